package setup

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/custodes/custodes/config"
)

// installScope puts row-level security on every registered dataset with a
// subject key, so that the database itself enforces an authority's scope:
// the gateway's backend role sees only rows of the subjects the gateway has
// written for its backend session — none until it writes any.
//
// The scope lives in schema custodes_scope of the agency database, owned by
// the control role. The gateway's role may call the two functions the
// policies use and nothing else there. The functions are SECURITY DEFINER
// with search_path pinned to pg_catalog, and key the scope by backend pid
// and the backend's scope key: a random value the gateway gives each backend
// connection in its start-up packet (custodes.scope_key) and writes beside
// the scope. Pids are reused, and the key is what keeps a row left by a
// crashed gateway from ever scoping a later backend with the same pid, and
// keeps whoever connects with the gateway's role around the gateway from
// matching any row. The key is no secret from its own session: it matches
// only the row of that session's pid, which is that session's scope. (It
// replaced a comparison of the backend's start time, which needed a snapshot
// of every backend's status on every statement: 19,600 tps of both
// functions became 46,000.) SET row_security = off makes a query fail rather
// than bypass the policy, since the role is neither owner nor BYPASSRLS.
func installScope(ctx context.Context, admin *pgx.Conn, cfg *config.Config, gwUser, ctlUser string) error {
	gw, ctl := ident(gwUser), ident(ctlUser)
	stmts := []string{
		fmt.Sprintf(`GRANT CONNECT ON DATABASE %s TO %s`, ident(cfg.BackendDatabase()), ctl),
		// To read other sessions' backend_start.
		fmt.Sprintf(`GRANT pg_read_all_stats TO %s`, ctl),
		fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS custodes_scope AUTHORIZATION %s`, ctl),
		fmt.Sprintf(`ALTER SCHEMA custodes_scope OWNER TO %s`, ctl),
		`REVOKE ALL ON SCHEMA custodes_scope FROM PUBLIC`,
		`CREATE TABLE IF NOT EXISTS custodes_scope.sessions (
			pid          int PRIMARY KEY,
			started      timestamptz NOT NULL,
			unrestricted bool NOT NULL DEFAULT false,
			subjects     text[] NOT NULL DEFAULT '{}'
		)`,
		// Added after the first release; a row without a key matches nothing.
		`ALTER TABLE custodes_scope.sessions ADD COLUMN IF NOT EXISTS key text NOT NULL DEFAULT ''`,
		fmt.Sprintf(`ALTER TABLE custodes_scope.sessions OWNER TO %s`, ctl),
		// PL/pgSQL, not SQL: a SECURITY DEFINER SQL function is never
		// inlined, and its query is planned again on every statement that
		// calls it; PL/pgSQL plans it once per backend. (Measured with
		// pgbench, 16 clients, both functions per statement: 4,900 tps as
		// SQL, 19,600 as PL/pgSQL, on a machine that does 96,000 of SELECT 1.)
		`CREATE OR REPLACE FUNCTION custodes_scope.unrestricted() RETURNS bool
			LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
			BEGIN
				RETURN coalesce((SELECT s.unrestricted FROM custodes_scope.sessions s
					WHERE s.pid = pg_backend_pid() AND s.key <> '' AND s.key = current_setting('custodes.scope_key', true)), false);
			END $$`,
		`CREATE OR REPLACE FUNCTION custodes_scope.subjects() RETURNS text[]
			LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
			BEGIN
				RETURN coalesce((SELECT s.subjects FROM custodes_scope.sessions s
					WHERE s.pid = pg_backend_pid() AND s.key <> '' AND s.key = current_setting('custodes.scope_key', true)), '{}');
			END $$`,
		fmt.Sprintf(`ALTER FUNCTION custodes_scope.unrestricted() OWNER TO %s`, ctl),
		fmt.Sprintf(`ALTER FUNCTION custodes_scope.subjects() OWNER TO %s`, ctl),
		`REVOKE ALL ON FUNCTION custodes_scope.unrestricted(), custodes_scope.subjects() FROM PUBLIC`,
		fmt.Sprintf(`GRANT USAGE ON SCHEMA custodes_scope TO %s`, gw),
		fmt.Sprintf(`GRANT EXECUTE ON FUNCTION custodes_scope.unrestricted(), custodes_scope.subjects() TO %s`, gw),
	}
	for _, d := range cfg.Datasets {
		if d.SubjectKey == "" {
			continue
		}
		var typ string
		schema, table, _ := strings.Cut(d.Table, ".")
		err := admin.QueryRow(ctx, `SELECT format_type(a.atttypid, a.atttypmod)
			FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND NOT a.attisdropped`, schema, table, d.SubjectKey).Scan(&typ)
		if err != nil {
			return fmt.Errorf("couldn't find subject key %s of %s: %w", d.SubjectKey, d.Table, err)
		}
		t := qualified(d.Table)
		stmts = append(stmts,
			fmt.Sprintf(`ALTER TABLE %s ENABLE ROW LEVEL SECURITY`, t),
			fmt.Sprintf(`DROP POLICY IF EXISTS custodes_scope ON %s`, t),
			// The sub-selects make each function run once per statement
			// (an InitPlan), not once per row.
			fmt.Sprintf(`CREATE POLICY custodes_scope ON %s FOR SELECT TO %s USING (
				(SELECT custodes_scope.unrestricted()) OR %s = ANY ((SELECT custodes_scope.subjects())::%s[]))`,
				t, gw, ident(d.SubjectKey), typ),
		)
	}
	for _, q := range stmts {
		if _, err := admin.Exec(ctx, q); err != nil {
			return fmt.Errorf("couldn't install row-level security (%s): %w", firstWords(q), err)
		}
	}
	return nil
}
