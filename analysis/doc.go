// Package analysis turns SQL text into the facts the gateway judges: what
// kind of statement it is, which relations, functions and columns it
// touches, and which export or side channels it opens.
//
// It is the security boundary's eyes, so it reads SQL only with PostgreSQL's
// own parser (pg_query_go, the PostgreSQL 17 grammar) and it fails closed:
//
//   - A string that does not parse is an error; the gateway denies it all.
//   - A statement of a kind not listed below is [ClassUnknown].
//   - A node type the analyser has not reviewed, or fields the Go types do
//     not know, add a reason to [Statement.Unjudged] and make the class
//     [ClassUnknown]. The gateway denies both (AUP-9).
//
// # Use
//
//	stmts, err := analysis.Analyze(query) // or AnalyzeWith(query, catalog)
//	if err != nil { deny everything }
//	for _, st := range stmts { judge st.Class, st.Relations, st.Hazards, ... }
//
// Analyze returns one [Statement] per statement of the string, in order,
// each with its own source text. A string with no statement at all gives one
// Statement of [ClassEmpty], so there is always something to judge and log.
//
// # How the tree is read
//
// Every node of the parse tree is visited through protobuf reflection, not
// through a hand-written list of fields, so nothing nested can be missed: a
// function call is found in a WHERE, an ORDER BY, a CASE, a VALUES list, a
// LATERAL subquery, a WITH query or a default expression alike. Hooks on a
// few node types collect the facts:
//
//   - Relations: every RangeVar, wherever it is: FROM, JOIN, subqueries,
//     INSERT/UPDATE/DELETE/MERGE targets, COPY, LOCK, CREATE TABLE AS,
//     view definitions, the new table of SELECT INTO. An unqualified FROM
//     item that names a WITH query in scope is the WITH query, not a table,
//     following PostgreSQL's scoping (a non-recursive WITH query sees only
//     the ones before it, so WITH persons AS (SELECT * FROM persons) reads
//     the table persons). Names are as PostgreSQL normalised them: unquoted
//     folded to lower case, quoted kept.
//   - Functions: every FuncCall (plain calls, aggregates, window functions,
//     table functions in FROM and ROWS FROM), TABLESAMPLE methods, and the
//     attribute-notation calls listed below.
//   - Columns: every ColumnRef with the clause it is in (the innermost
//     query's clause), plus the names in JOIN USING, INSERT column lists,
//     UPDATE SET and COPY column lists. "*" stands for all columns: a star
//     in a select list, COPY of a whole table, NATURAL JOIN (clause join),
//     and a FROM item that renames a table's columns (FROM persons AS
//     p(a, b, r), clause from), which would otherwise hide a column under
//     another name.
//
// # Whole rows
//
// A row used as one value hides its columns from the result guard: a bare
// FROM item name (row_to_json(p), SELECT p, religion(p)), p.* outside a
// select list (ROW(p.*), count(p.*)), or attribute notation of a function
// applied to a row: p.to_json is to_json(p) when p has no column to_json.
// Those set [Statement.WholeRow]; the known row functions (from pg_proc) are
// also reported in Functions. The list cannot cover every function, so the
// gateway must resolve every qualified column against the relation's real
// columns and deny a name it cannot resolve.
//
// # Classes
//
// [Class] names the statement's own kind. [Statement.Hazards] lists what is
// dangerous inside it; the gateway must check both, for every class.
//
//   - read: SELECT, VALUES, TABLE. SELECT ... FOR UPDATE stays a read with a
//     lock hazard. DECLARE CURSOR is the read it wraps (its rows come later
//     by FETCH, which names the same [Statement.Cursor]).
//   - write: INSERT, UPDATE, DELETE, MERGE, TRUNCATE, REFRESH MATERIALIZED
//     VIEW, CALL and DO (whose bodies cannot be seen), and any SELECT with a
//     data-modifying WITH query.
//   - ddl: schema, role, privilege, extension, server and configuration
//     changes, LOAD, ALTER SYSTEM; SELECT INTO, CREATE TABLE AS and CREATE
//     MATERIALIZED VIEW (also [Statement.Into]).
//   - copy_out, copy_in: COPY ... TO (including TO STDOUT, which psql's
//     \copy uses) and COPY ... FROM.
//   - set, show: with [Statement.Setting].
//   - transaction: BEGIN, START, COMMIT, ROLLBACK, SAVEPOINT, RELEASE,
//     PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED, SET CONSTRAINTS.
//   - utility: EXPLAIN (without ANALYZE; EXPLAIN ANALYZE runs its statement
//     and takes that statement's class), PREPARE and EXECUTE (see below),
//     DEALLOCATE, FETCH, MOVE, CLOSE, DISCARD, LISTEN, UNLISTEN, NOTIFY,
//     LOCK, VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT. Those that are not
//     harmless carry a hazard.
//
// PREPARE name AS body: the body is analysed and its facts are this
// statement's; [Prepare.Class] is the body's class. EXECUTE name, also
// inside EXPLAIN or CREATE TABLE AS, sets [Prepare.Execute]: the gateway
// judges it by the facts it recorded when the name was prepared.
//
// # Hazards
//
// Hazards are found anywhere in the tree. Function names are matched in
// lower case and without their schema, so pg_catalog.pg_read_file and a
// quoted "PG_READ_FILE" are caught alike (the quoted one does not exist in
// PostgreSQL, so catching it costs nothing). The tables in hazards.go are a
// floor, not a ceiling: the gateway must still allow only functions and
// relations it knows.
//
//   - copy_to, copy_from, copy_program, copy_file: COPY's direction, a
//     PROGRAM, a server-side file.
//   - select_into: SELECT INTO, CREATE TABLE AS, CREATE MATERIALIZED VIEW.
//   - do_block: DO.
//   - set_role, session_authorization: SET/RESET ROLE, SESSION
//     AUTHORIZATION, set_config('role', ...), DISCARD ALL.
//   - security_setting: settings that weaken row-level security
//     (row_security, session_replication_role), change name resolution
//     (search_path), lift read-only mode (READ WRITE), hide activity from
//     logs and auditing (log_*, track_*, pgaudit.*), load code, or change
//     how the backend lexes SQL so that it would run other statements than
//     the ones judged here (a client_encoding other than UTF-8,
//     standard_conforming_strings off); RESET ALL and DISCARD ALL.
//   - custodes_setting: custodes.* set by SQL. SET and RESET of
//     custodes.authority are the gateway's own and carry no hazard;
//     set_config('custodes.authority', ...) does. A set_config whose
//     setting name is not a constant carries every setting hazard.
//   - sql_text_function: query_to_xml, cursor_to_xml, table_to_xml,
//     schema_to_xml, database_to_xml and their xmlschema forms, ts_stat,
//     two-argument ts_rewrite, pg_background_launch.
//   - file_function: pg_read_file, pg_read_binary_file, pg_stat_file,
//     pg_ls_*, lo_import, lo_export, adminpack's pg_file_*.
//   - large_object: lo_*, loread, lowrite.
//   - network: dblink*, postgres_fdw's functions, http.
//   - admin_function: pg_terminate_backend, pg_cancel_backend,
//     pg_reload_conf, pg_rotate_logfile, replication and backup control,
//     pg_stat_reset*, set_config.
//   - catalog_statistics: pg_stats, pg_statistic and their extended forms
//     (column values in most-common-value lists and histograms),
//     pg_stat_activity and pg_stat_statements (other sessions' SQL).
//   - write: a data-modifying statement anywhere (also inside WITH, COPY
//     (...) TO, EXPLAIN, PREPARE), nextval, setval.
//   - ddl: a DDL statement.
//   - explain: EXPLAIN, whose plans reveal row estimates and, with ANALYZE,
//     real row counts that never pass the result guard.
//   - listen_notify: LISTEN, NOTIFY, pg_notify: a channel between sessions.
//   - lock: LOCK, SELECT ... FOR UPDATE/SHARE, advisory locks.
//   - maintenance: VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT.
//
// # Scopes
//
// AnalyzeWith(sql, catalog) adds what needs the columns of relations, for
// the rules that are about particular columns of particular occurrences
// (AUP-4, AUP-5). The Catalog gives the columns of the relations it knows;
// every other fact is Analyze's.
//
//   - Statement.Uses: one [RelationUse] per occurrence of a relation in a
//     FROM or JOIN at any level (subqueries, WITH queries, LATERAL, set
//     operations, IN and EXISTS subqueries, the bodies of DECLARE, PREPARE,
//     EXPLAIN, COPY (query), CREATE TABLE AS and views), plus the target of
//     a write and the table of COPY. Each has its Restricted and Predicated
//     columns, by real name.
//   - Statement.ResolvedColumns: every column of a cataloged relation the
//     statement uses, by real name, with its clause. A star, p.*, a whole
//     row (row_to_json(p), SELECT p, p.to_json) and COPY of a table list
//     every column; a column alias list is seen through (in FROM persons AS
//     p(a, b, c, d, e, f, r), r is religion); so are the output columns of
//     WITH queries and subqueries in FROM, to the columns they come from
//     (for a computed output, to every column it is computed from).
//   - Statement.Ambiguous: the reasons something could not be resolved.
//
// Column references are resolved as PostgreSQL does: a qualified name by
// the FROM item of that name, innermost level first; a bare name by the one
// FROM item of the innermost level that has such a column, else a whole row
// of a FROM item so named; ORDER BY and DISTINCT ON take a bare name or a
// position as an output column first, GROUP BY as an input column first;
// JOIN USING and NATURAL merge their columns. Output names of subqueries
// follow PostgreSQL's rules for unnamed select-list entries. Deny by
// default: a name that two FROM items could hold, that a FROM item of
// unknown columns (a relation the catalog does not know, a function without
// a column definition list) nearer the reference could hold, or that
// nothing holds, is Ambiguous, never guessed. (A FROM item of unknown
// columns beside one that has the name cannot hold it too, or PostgreSQL
// would refuse the statement.) Where an item of unknown columns is the only
// place a name can be, the name is its: a relation the catalog does not
// know gets a column of that name, and "*" stands for its columns where the
// name cannot be known.
//
// # Restrictions
//
// A column of an occurrence is Restricted when the statement only returns
// rows of that occurrence whose column holds one of a bounded set of values;
// the map gives an upper bound on their number (-1: bounded, but the bound
// is a parameter array's length). The rules, conservative throughout:
//
//   - Only top-level AND conjuncts count: of WHERE, of HAVING (a plain
//     column there is grouped, so the conjunct filters rows), and of the ON
//     of the join above the occurrence. A conjunct under OR, NOT or CASE
//     does not, so person_id = 101 OR lat > 40 restricts nothing.
//   - The forms: col = v, v = col, col IN (v, ...), col = ANY(array) with an
//     array literal ('{1,2}'), ARRAY[...] of values, or a parameter ($1,
//     count -1), (a, b) = (v, w), and col IN (SELECT c ...) or col = ANY
//     (SELECT c ...) when c is itself restricted there. A value v is a
//     non-null constant, a parameter, either with a cast, or a scalar
//     subquery that is not correlated (it yields at most one value). Values
//     are counted once each (an upper bound: 101 and '101' count twice).
//     The column side must be a plain column: a cast or function on it
//     (person_id::text = '101') is not a restriction. BETWEEN, ranges, =
//     ALL, NOT IN, IS NOT DISTINCT FROM and = NULL are not. Only the
//     built-in = (written = or OPERATOR(pg_catalog.=)) counts.
//   - Equalities between columns (col = col, JOIN USING, NATURAL JOIN)
//     carry restrictions across occurrences, also to an occurrence in a
//     subquery correlated to a restricted outer one (EXISTS (... WHERE
//     l.person_id = p.person_id) with p.person_id = 7).
//   - EXISTS (SELECT ... WHERE ...) as a conjunct brings its WHERE's
//     conjuncts along, so EXISTS (SELECT 1 FROM persons p WHERE
//     p.person_id = l.person_id AND p.person_id = 1) restricts l, unless
//     the subquery can yield a row its WHERE rejects (grouping, aggregates,
//     set operations).
//   - Outer joins: the ON of a LEFT JOIN restricts only its right side (all
//     left rows are kept), of a RIGHT JOIN only its left side, of a FULL
//     JOIN neither. WHERE restricts every occurrence of its level.
//   - A restriction of a column of a subquery in FROM or of a WITH query
//     applies inside it when that column is a plain column there and the
//     subquery does not look at other rows: no LIMIT or OFFSET, window
//     function, DISTINCT ON, recursion, or write (grouping is fine: a plain
//     column of a grouped query is constant within its group). A WITH query
//     read more than once is restricted only if every reference restricts
//     it, to the sum. A set operation passes it to each branch.
//   - The other way, a subquery's, WITH query's or VALUES list's output
//     column is restricted when it is a plain restricted column, a constant,
//     or VALUES of constants only; a set operation's when every branch's is.
//
// Predicated lists the columns of an occurrence whose values decide which
// rows, groups or order are returned: used in WHERE, JOIN ON, USING,
// NATURAL, HAVING, FILTER, GROUP BY, DISTINCT ON, ORDER BY (a nearest-5
// ORDER BY distance LIMIT 5 is a place predicate), window clauses,
// function arguments in FROM, CASE conditions anywhere, the outputs of
// INTERSECT and EXCEPT (which keep rows by comparing them), or anywhere
// inside a subquery that stands in such a place, also through the output
// columns of subqueries and WITH queries (WITH x AS (SELECT lat AS a ...)
// SELECT ... FROM x WHERE a > 40 predicates lat). A condition written as
// arithmetic in a select list (person_id * (lat > 40)::int) is not found
// here; such a result column is an expression, which the result guard
// judges conservatively.
//
// Restrictions are about the rows returned, not the rows PostgreSQL reads
// on the way or the order it evaluates conditions in: a condition that
// fails with an error on some rows can still tell something about rows not
// returned. Row-level security is the layer that keeps rows out of reach.
//
// # Depth and cost
//
// A long chain of left-associative operators (a+a+a..., x IS TRUE IS
// TRUE..., t JOIN t JOIN t...) makes a parse tree as deep as the chain, and
// the C parser crashes the process on trees some 20,000 levels deep instead
// of failing. Strings of 8 KiB or more are therefore first run through
// PostgreSQL's scanner and refused with an error when their estimated depth
// passes 2,000 levels (see depth.go); shorter strings cannot get that deep.
// Parsing costs grow with depth and length (roughly 10 µs per byte for the
// deepest inputs), so the gateway should bound the length of the query
// strings it accepts.
//
// Analyze is safe for concurrent use. A Statement is not changed after
// Analyze returns, so callers may keep and share it (for prepared
// statements and cursors) as long as they do not change it either.
//
// # Known limits
//
// The grammar is PostgreSQL 17's; a server of another version may read a
// few constructs differently (SQL/JSON syntax added in 16 and 17 is a
// function call to an older server). The wire protocol's function-call
// message (used by libpq's large-object calls) never reaches this package;
// the gateway must refuse it.
package analysis
