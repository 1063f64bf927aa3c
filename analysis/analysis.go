package analysis

import (
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Class is what kind of statement a Statement is. It names the statement's
// own kind; what is dangerous inside it is listed in Statement.Hazards, which
// the gateway must check for every class.
type Class string

const (
	ClassRead        Class = "read"        // SELECT, VALUES, TABLE, DECLARE CURSOR
	ClassWrite       Class = "write"       // INSERT, UPDATE, DELETE, MERGE, TRUNCATE, REFRESH, CALL, DO, a SELECT with a data-modifying WITH
	ClassDDL         Class = "ddl"         // schema, role, privilege and server changes, SELECT INTO, CREATE TABLE AS
	ClassCopyOut     Class = "copy_out"    // COPY ... TO
	ClassCopyIn      Class = "copy_in"     // COPY ... FROM
	ClassSet         Class = "set"         // SET, RESET
	ClassShow        Class = "show"        // SHOW
	ClassTransaction Class = "transaction" // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET CONSTRAINTS, ...
	ClassUtility     Class = "utility"     // EXPLAIN, PREPARE, EXECUTE, FETCH, CLOSE, LISTEN, LOCK, VACUUM, ...
	ClassEmpty       Class = "empty"       // a query string holding no statement at all
	ClassUnknown     Class = "unknown"     // anything this package does not positively recognise
)

// Clause says where in a statement a column is used.
type Clause string

const (
	ClauseSelect    Clause = "select"    // select list, also COPY's column list
	ClauseFrom      Clause = "from"      // FROM items: function arguments, TABLESAMPLE, column aliases
	ClauseJoin      Clause = "join"      // JOIN ... ON, USING, NATURAL; MERGE ... ON
	ClauseWhere     Clause = "where"     // WHERE, aggregate FILTER, MERGE WHEN conditions
	ClauseGroupBy   Clause = "group_by"  // GROUP BY, DISTINCT ON
	ClauseHaving    Clause = "having"    // HAVING
	ClauseWindow    Clause = "window"    // PARTITION BY and ORDER BY of windows
	ClauseOrderBy   Clause = "order_by"  // ORDER BY, also inside aggregates
	ClauseReturning Clause = "returning" // RETURNING
	ClauseAssign    Clause = "assign"    // columns written: INSERT's column list, UPDATE SET
	ClauseOther     Clause = "other"     // everything else: LIMIT, VALUES, CALL arguments, DDL, ...
)

// Hazard kinds. The set is fixed; the gateway maps each to a rule.
const (
	HazardCopyTo               = "copy_to"               // COPY ... TO, including TO STDOUT
	HazardCopyFrom             = "copy_from"             // COPY ... FROM
	HazardCopyProgram          = "copy_program"          // COPY ... PROGRAM
	HazardCopyFile             = "copy_file"             // COPY to or from a server-side file
	HazardSelectInto           = "select_into"           // SELECT INTO, CREATE TABLE AS, CREATE MATERIALIZED VIEW
	HazardDoBlock              = "do_block"              // DO
	HazardSetRole              = "set_role"              // SET ROLE, RESET ROLE, set_config('role', ...)
	HazardSessionAuthorization = "session_authorization" // SET/RESET SESSION AUTHORIZATION, DISCARD ALL
	HazardSecuritySetting      = "security_setting"      // settings that weaken security or change how SQL is lexed
	HazardCustodesSetting      = "custodes_setting"      // custodes.* set by SQL, except SET/RESET custodes.authority
	HazardSQLTextFunction      = "sql_text_function"     // functions that run SQL text or dump whole tables
	HazardFileFunction         = "file_function"         // server file system access
	HazardLargeObject          = "large_object"          // lo_* functions
	HazardNetwork              = "network"               // dblink, postgres_fdw, http
	HazardAdminFunction        = "admin_function"        // signalling backends, configuration, replication, set_config
	HazardCatalogStatistics    = "catalog_statistics"    // pg_stats and friends: column values and other sessions' SQL
	HazardWrite                = "write"                 // a data-modifying statement anywhere, sequence changes
	HazardDDL                  = "ddl"                   // a DDL statement
	HazardExplain              = "explain"               // EXPLAIN: plans reveal row estimates, ANALYZE real counts
	HazardListenNotify         = "listen_notify"         // LISTEN, NOTIFY, pg_notify
	HazardLock                 = "lock"                  // LOCK, SELECT ... FOR UPDATE/SHARE
	HazardMaintenance          = "maintenance"           // VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT
)

// Statement is what the analyser found in one statement of a query string.
type Statement struct {
	// Text is the statement's own source text, trimmed of surrounding space.
	Text  string
	Class Class
	// Relations are all relations the statement names, anywhere, in the
	// order first met; names of WITH queries are resolved and left out.
	Relations []Relation
	// Functions are all functions called, as "name" or "schema.name".
	Functions []string
	// Columns are all column references, with the clause they appear in.
	Columns []ColumnRef
	// WholeRow is set when a row is used as one value (row_to_json(p),
	// p.to_json, ROW(p.*), count(p.*)), which hides its columns.
	WholeRow bool
	// Setting is set for SET, RESET and SHOW.
	Setting *Setting
	// Into is set when the statement stores a result in a new table.
	Into bool
	// Hazards are the export and side channels found, deduplicated.
	Hazards []Hazard
	// Prepared is set for PREPARE (the body's facts are merged into this
	// Statement) and for EXECUTE anywhere (judge by the prepared statement).
	Prepared *Prepare
	// Cursor names the cursor of DECLARE, FETCH, MOVE and CLOSE
	// ("" for CLOSE ALL).
	Cursor string
	// Unjudged lists what the analyser did not understand. A Statement
	// with Unjudged reasons must be denied.
	Unjudged []string

	// Set by AnalyzeWith only; see "Scopes" in the package documentation.

	// Uses are the occurrences of relations, in the order met.
	Uses []RelationUse
	// ResolvedColumns are the columns of cataloged relations used, by
	// real name, once per relation, column and clause.
	ResolvedColumns []ResolvedColumn
	// Ambiguous lists what could not be resolved: a column that may
	// belong to several FROM items or to one whose columns are not known,
	// a name not found. Judge such a statement as if it used every column
	// of every relation it names.
	Ambiguous []string
}

// Relation is a relation name as PostgreSQL normalised it: unquoted names
// are folded to lower case, quoted names keep their case.
type Relation struct {
	Schema string // "" when unqualified
	Name   string
}

func (r Relation) String() string {
	if r.Schema == "" {
		return r.Name
	}
	return r.Schema + "." + r.Name
}

// ColumnRef is one use of a column.
type ColumnRef struct {
	Qualifier string // as written, dotted ("p", "public.persons"), or ""
	Name      string // column name, or "*" for all columns
	Clause    Clause
}

// Hazard is one export or side channel, Kind from the Hazard constants.
type Hazard struct {
	Kind   string
	Detail string
}

// Setting describes a SET, RESET or SHOW.
type Setting struct {
	Name  string // lower case; "transaction" and "session characteristics" for SET TRANSACTION forms; "" with All
	Value string // SET's value as text, list items joined with ", "; "" for RESET and FROM CURRENT
	Local bool   // SET LOCAL
	Reset bool   // RESET, SET ... TO DEFAULT
	All   bool   // RESET ALL, SHOW ALL
}

// Prepare describes a PREPARE or an EXECUTE.
type Prepare struct {
	Name    string
	Execute bool  // EXECUTE name (also inside EXPLAIN or CREATE TABLE AS)
	Class   Class // for PREPARE: the class of the prepared body
}

// Analyze parses sql, one query string that may hold several statements,
// with the PostgreSQL parser and returns one Statement per statement, in
// order. A string holding no statement (only spaces, comments and
// semicolons) gives one Statement of ClassEmpty, so a caller always has
// something to judge and record. A parse error is an error: the whole string
// must be denied.
func Analyze(sql string) ([]*Statement, error) {
	return analyze(sql, nil, false)
}

func analyze(sql string, cat Catalog, scopes bool) ([]*Statement, error) {
	// The parser takes a C string and would stop at a NUL byte, judging a
	// prefix of what the caller holds.
	if strings.IndexByte(sql, 0) >= 0 {
		return nil, errors.New("couldn't parse SQL: it contains a NUL byte")
	}
	// Some inputs crash the C parser instead of failing; see depth.go.
	if err := checkDepth(sql); err != nil {
		return nil, err
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse SQL: %w", err)
	}
	if len(tree.Stmts) == 0 {
		return []*Statement{{Text: strings.TrimSpace(sql), Class: ClassEmpty}}, nil
	}
	stmts := make([]*Statement, 0, len(tree.Stmts))
	for _, raw := range tree.Stmts {
		st := analyzeRaw(sql, raw)
		if scopes {
			resolveScopes(st, raw.GetStmt(), cat)
		}
		stmts = append(stmts, st)
	}
	return stmts, nil
}

func analyzeRaw(sql string, raw *pg_query.RawStmt) *Statement {
	st := &Statement{Text: stmtText(sql, raw)}
	w := newWalker(st)
	w.walkTop(raw)
	st.Class = w.classify(raw.GetStmt())
	w.finish()
	return st
}

// stmtText slices one statement out of the query string. Offsets are bytes;
// a length of 0 means "to the end".
func stmtText(sql string, raw *pg_query.RawStmt) string {
	start, n := int(raw.GetStmtLocation()), int(raw.GetStmtLen())
	if start < 0 || start > len(sql) {
		return strings.TrimSpace(sql)
	}
	end := len(sql)
	if n > 0 && start+n <= len(sql) {
		end = start + n
	}
	return strings.TrimSpace(sql[start:end])
}
