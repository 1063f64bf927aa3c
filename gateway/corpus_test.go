package gateway_test

// The evasion and lawful corpora (testdata/corpus) run through the real
// gateway against the real database: every evasion under every kind of
// session and protocol, every lawful statement under its authority and
// every protocol. The file formats are documented at the top of each file.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/custodes/custodes/internal/teststack"
)

// A sessionKind is one of the ways an analyst can be connected.
type sessionKind struct {
	name      string // as the corpus names it
	user      string
	authority string  // bound in the startup packet; "" for none
	subjects  []int64 // listed subjects, enforced by the database
	max       int     // max_subjects, enforced by the result guard
}

var sessionKinds = []sessionKind{
	{name: "none", user: "alice"},
	{name: "W-DEMO-1", user: "alice", authority: "W-DEMO-1", subjects: []int64{101, 102, 103}},
	{name: "L-DEMO-2", user: "alice", authority: "L-DEMO-2", max: 5},
	{name: "W-DEMO-3", user: "carol", authority: "W-DEMO-3", subjects: []int64{2001}},
}

func kindNamed(name string) (sessionKind, bool) {
	for _, k := range sessionKinds {
		if k.name == name {
			return k, true
		}
	}
	return sessionKind{}, false
}

var protocols = []struct {
	name string
	mode pgx.QueryExecMode
}{
	{"simple", pgx.QueryExecModeSimpleProtocol},
	{"exec", pgx.QueryExecModeExec},
	{"cache", pgx.QueryExecModeCacheStatement},
}

// corpusLine is one case as written: its line, the gap marker, the fields
// before " | " and the steps of SQL after it.
type corpusLine struct {
	file   string
	line   int
	gap    bool
	fields []string
	steps  []string
}

func (l corpusLine) String() string { return fmt.Sprintf("%s:%d", l.file, l.line) }

// readCorpus reads a corpus file: '#' comments, blank lines, an optional
// "gap:" marker, fields, " | ", SQL with steps separated by " ;; ", and a
// trailing " \" continuing a case on the next line (joined by a newline).
func readCorpus(t *testing.T, path string) []corpusLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		start := n
		text := sc.Text()
		for strings.HasSuffix(text, " \\") && sc.Scan() {
			n++
			text = strings.TrimSuffix(text, "\\") + "\n" + sc.Text()
		}
		text = strings.TrimSpace(text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		l := corpusLine{file: path, line: start}
		if rest, ok := strings.CutPrefix(text, "gap:"); ok {
			l.gap, text = true, strings.TrimSpace(rest)
		}
		head, sql, ok := strings.Cut(text, " | ")
		if !ok || strings.TrimSpace(sql) == "" {
			t.Fatalf("%s: want FIELDS | SQL", l)
		}
		l.fields = strings.Fields(head)
		for _, s := range strings.Split(sql, " ;; ") {
			l.steps = append(l.steps, strings.TrimSpace(s))
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// evasion is a statement that must be denied.
type evasion struct {
	corpusLine
	rule      string          // must be among the rules of the denial under authority
	authority sessionKind     // where rule must trip
	lawful    map[string]bool // session kinds where it may run, scoped
}

// lawful is a statement that must work.
type lawfulCase struct {
	corpusLine
	authority sessionKind
	expect    string // "admin", "rows=N" or "ids=a,b,…"
}

var ruleRE = regexp.MustCompile(`^AUP-([1-9]|10)$`)

func readEvasions(t *testing.T, path string) []evasion {
	var out []evasion
	for _, l := range readCorpus(t, path) {
		if len(l.fields) < 2 || len(l.fields) > 3 || !ruleRE.MatchString(l.fields[0]) {
			t.Fatalf("%s: want [gap:] AUP-n AUTHORITY [lawful=KIND,…] | SQL", l)
		}
		e := evasion{corpusLine: l, rule: l.fields[0], lawful: map[string]bool{}}
		var ok bool
		if e.authority, ok = kindNamed(l.fields[1]); !ok {
			t.Fatalf("%s: unknown session kind %q", l, l.fields[1])
		}
		if len(l.fields) == 3 {
			list, ok := strings.CutPrefix(l.fields[2], "lawful=")
			if !ok {
				t.Fatalf("%s: unknown option %q", l, l.fields[2])
			}
			for _, k := range strings.Split(list, ",") {
				if _, ok := kindNamed(k); !ok || k == e.authority.name {
					t.Fatalf("%s: bad lawful kind %q", l, k)
				}
				e.lawful[k] = true
			}
		}
		out = append(out, e)
	}
	return out
}

func readLawful(t *testing.T, path string) []lawfulCase {
	var out []lawfulCase
	for _, l := range readCorpus(t, path) {
		if len(l.fields) != 2 {
			t.Fatalf("%s: want [gap:] AUTHORITY EXPECT | SQL", l)
		}
		c := lawfulCase{corpusLine: l, expect: l.fields[1]}
		var ok bool
		if c.authority, ok = kindNamed(l.fields[0]); !ok {
			t.Fatalf("%s: unknown session kind %q", l, l.fields[0])
		}
		switch {
		case c.expect == "admin":
			if len(l.steps) != 1 {
				t.Fatalf("%s: admin comparison needs a single step", l)
			}
		case strings.HasPrefix(c.expect, "rows="), strings.HasPrefix(c.expect, "ids="):
		default:
			t.Fatalf("%s: unknown expectation %q", l, c.expect)
		}
		out = append(out, c)
	}
	return out
}

// stepResult is what the client received for one step.
type stepResult struct {
	rows       [][]string // every DataRow, as text
	personIDs  []string   // values of result columns that are a subject key
	err        error
	failedRows int // rows of the statement that failed with err
}

// subjectKey identifies a registered dataset's subject-key column as
// RowDescription names it: table OID and attribute number.
type subjectKey struct {
	table uint32
	att   uint16
}

// loadSubjectKeys finds the person_id columns of the demo datasets.
func loadSubjectKeys(t *testing.T, admin *pgx.Conn) map[subjectKey]bool {
	rows, err := admin.Query(context.Background(), `SELECT c.oid, a.attnum FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'person_id'`)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[subjectKey]bool{}
	for rows.Next() {
		var k subjectKey
		if err := rows.Scan(&k.table, &k.att); err != nil {
			t.Fatal(err)
		}
		keys[k] = true
	}
	if err := rows.Err(); err != nil || len(keys) != 5 {
		t.Fatalf("subject keys %v: %v", keys, err)
	}
	return keys
}

// runStep sends sql in one protocol and collects every row that reaches
// the client, also rows that arrive before an error, and the values of
// result columns that are one of keys.
func runStep(c *pgx.Conn, mode pgx.QueryExecMode, sql string, keys map[subjectKey]bool) stepResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r stepResult
	add := func(fds []pgconn.FieldDescription, row []string, null func(int) bool) {
		r.rows = append(r.rows, row)
		for i, f := range fds {
			if keys[subjectKey{f.TableOID, f.TableAttributeNumber}] && i < len(row) && !null(i) {
				r.personIDs = append(r.personIDs, row[i])
			}
		}
	}
	if mode == pgx.QueryExecModeSimpleProtocol {
		results, err := c.PgConn().Exec(ctx, sql).ReadAll()
		for _, res := range results {
			if res.Err != nil {
				r.failedRows += len(res.Rows)
			}
			for _, raw := range res.Rows {
				row := make([]string, len(raw))
				for i, v := range raw {
					row[i] = textOf(v)
				}
				add(res.FieldDescriptions, row, func(i int) bool { return raw[i] == nil })
			}
		}
		r.err = err
		return r
	}
	rows, err := c.Query(ctx, sql, mode)
	if err != nil {
		r.err = err
		return r
	}
	for rows.Next() {
		vals, err := rows.Values()
		raw := rows.RawValues()
		row := make([]string, len(raw))
		for i := range row {
			if err == nil && i < len(vals) {
				row[i] = fmt.Sprint(vals[i])
			} else {
				row[i] = textOf(raw[i])
			}
		}
		add(rows.FieldDescriptions(), row, func(i int) bool { return raw[i] == nil })
	}
	rows.Close()
	if r.err = rows.Err(); r.err != nil {
		r.failedRows = len(r.rows)
	}
	return r
}

func textOf(v []byte) string {
	if v == nil {
		return "NULL"
	}
	return string(v)
}

// denialRules returns the rules of a custodes denial (the first from the
// message, the others from DETAIL), or a description of what err is instead.
func denialRules(err error) (rules []string, notDenial string, format string) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return nil, fmt.Sprintf("error %v", err), ""
	}
	m := denialRE.FindStringSubmatch(pe.Message)
	if pe.Code != "42501" || m == nil {
		return nil, fmt.Sprintf("error %s %q", pe.Code, short(pe.Message)), ""
	}
	rules = []string{m[1]}
	if _, also, ok := strings.Cut(pe.Detail, "also breaks "); ok {
		rules = append(rules, regexp.MustCompile(`AUP-\d+`).FindAllString(also, -1)...)
	}
	switch {
	case !entryRE.MatchString(pe.Detail):
		format = fmt.Sprintf("denial detail %q does not name its log entry", pe.Detail)
	case pe.Hint == "":
		format = fmt.Sprintf("denial %q has no hint", pe.Message)
	}
	return rules, "", format
}

// multiCommand is PostgreSQL's (and the gateway's) answer to a Parse of
// several statements: the extended protocol cannot carry them at all.
func multiCommand(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42601" && strings.Contains(pe.Message, "cannot insert multiple commands")
}

func statements(sql string) int {
	s, err := pg_query.SplitWithParser(sql, true)
	if err != nil {
		return 1
	}
	return len(s)
}

func short(s string) string {
	if r := []rune(s); len(r) > 160 {
		return string(r[:160]) + "…"
	}
	return s
}

// sessions keeps one connection per session kind and protocol.
type sessions struct {
	st    *teststack.Stack
	keys  map[subjectKey]bool
	mu    sync.Mutex
	conns map[string]*pgx.Conn
}

func dialKind(st *teststack.Stack, k sessionKind) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(st.URL(k.user))
	if err != nil {
		return nil, err
	}
	if k.authority != "" {
		cfg.RuntimeParams["options"] = "-c custodes.authority=" + k.authority
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

func (s *sessions) get(k sessionKind, proto string) (*pgx.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := k.name + "/" + proto
	if c := s.conns[key]; c != nil && !c.IsClosed() {
		return c, nil
	}
	c, err := dialKind(s.st, k)
	if err != nil {
		return nil, fmt.Errorf("couldn't connect as %s under %s: %w", k.user, k.name, err)
	}
	s.conns[key] = c
	return c, nil
}

// drop closes a connection whose state a case may have changed.
func (s *sessions) drop(k sessionKind, proto string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := k.name + "/" + proto
	if c := s.conns[key]; c != nil {
		c.Close(context.Background())
		delete(s.conns, key)
	}
}

func (s *sessions) closeAll() {
	for _, c := range s.conns {
		c.Close(context.Background())
	}
}

// tidy leaves the connection as a fresh one of its kind would be, or drops
// it: a step that ran may have changed settings, prepared statements,
// cursors or the transaction, and a step may have changed the session's
// custodes.authority.
func (s *sessions) tidy(c *pgx.Conn, k sessionKind, proto string, ran bool) {
	if ran || c.IsClosed() || c.PgConn().TxStatus() != 'I' {
		s.drop(k, proto)
		return
	}
	var got string
	if err := c.QueryRow(context.Background(), "SHOW custodes.authority", pgx.QueryExecModeSimpleProtocol).Scan(&got); err != nil || got != k.authority {
		s.drop(k, proto)
	}
}

// runEvasion runs e under session kind k and protocol proto and says what
// was wrong, if anything.
func (s *sessions) runEvasion(e evasion, k sessionKind, proto string, mode pgx.QueryExecMode, suspended bool) []string {
	where := k.name + "/" + proto
	c, err := s.get(k, proto)
	if err != nil {
		return []string{where + ": " + err.Error()}
	}
	var problems, rules, outcomes []string
	var rows [][]string
	var subjects []string
	denied, ran, checkable := false, false, true
	for _, step := range e.steps {
		r := runStep(c, mode, step, s.keys)
		rows = append(rows, r.rows...)
		subjects = append(subjects, r.personIDs...)
		switch {
		case r.err == nil:
			ran = true
			outcomes = append(outcomes, fmt.Sprintf("allowed (%d rows)", len(r.rows)))
		case mode != pgx.QueryExecModeSimpleProtocol && statements(step) > 1 && multiCommand(r.err):
			// Several statements cannot be one Parse; nothing ran, and
			// which rule they break is for the simple protocol to show.
			denied, checkable = true, false
			outcomes = append(outcomes, "refused as several commands")
		default:
			rs, other, format := denialRules(r.err)
			if other != "" {
				ran = true
				outcomes = append(outcomes, other)
				break
			}
			denied = true
			rules = append(rules, rs...)
			outcomes = append(outcomes, "denied by "+strings.Join(rs, ","))
			if format != "" {
				problems = append(problems, where+": "+format)
			}
			if r.failedRows > 0 {
				problems = append(problems, fmt.Sprintf("%s: %d rows of a denied statement reached the client", where, r.failedRows))
			}
		}
		if c.IsClosed() {
			problems = append(problems, where+": the connection was closed")
			break
		}
	}
	lawful := e.lawful[k.name] && !suspended
	// What ran where it is lawful is a lawful read (or defines a uniquely
	// named statement or cursor); anything else that ran may have changed
	// the session in ways tidy cannot see.
	s.tidy(c, k, proto, ran && !lawful)

	if lawful {
		// Lawful in substance here: it may run, but only about the
		// authority's own subjects.
		if bad := outOfScope(k, subjects); bad != "" {
			problems = append(problems, fmt.Sprintf("%s: allowed with %s", where, bad))
		}
		return problems
	}
	if len(rows) > 0 {
		problems = append(problems, fmt.Sprintf("%s: %d rows reached the client, first %s", where, len(rows), short(fmt.Sprint(rows[0]))))
	}
	if !denied {
		return append(problems, where+": not denied: "+strings.Join(outcomes, "; "))
	}
	if k.name == e.authority.name && checkable && !slices.Contains(rules, e.rule) {
		slices.Sort(rules)
		problems = append(problems, fmt.Sprintf("%s: denied by %s, not by %s", where, strings.Join(slices.Compact(rules), ", "), e.rule))
	}
	return problems
}

// outOfScope describes subject ids of a result that the session's
// authority does not reach, or "".
func outOfScope(k sessionKind, subjects []string) string {
	distinct := map[string]bool{}
	var bad []string
	for _, id := range subjects {
		distinct[id] = true
		n, err := strconv.ParseInt(id, 10, 64)
		if k.max == 0 && (err != nil || !slices.Contains(k.subjects, n)) {
			bad = append(bad, id)
		}
	}
	switch {
	case len(bad) > 0:
		return fmt.Sprintf("subjects outside its scope: %s", short(strings.Join(bad, ",")))
	case k.max > 0 && len(distinct) > k.max:
		return fmt.Sprintf("%d distinct subjects, over the cap of %d", len(distinct), k.max)
	}
	return ""
}

func (s *sessions) runLawful(admin *pgx.Conn, c lawfulCase, proto string, mode pgx.QueryExecMode) []string {
	where := c.authority.name + "/" + proto
	conn, err := s.get(c.authority, proto)
	if err != nil {
		return []string{where + ": " + err.Error()}
	}
	var last stepResult
	for _, step := range c.steps {
		last = runStep(conn, mode, step, nil)
		if last.err != nil {
			s.drop(c.authority, proto)
			return []string{fmt.Sprintf("%s: %q: %v", where, step, last.err)}
		}
	}
	s.tidy(conn, c.authority, proto, false)
	switch {
	case c.expect == "admin":
		want := runStep(admin, mode, c.steps[0], nil)
		if want.err != nil || len(want.rows) == 0 {
			return []string{fmt.Sprintf("%s: the database itself gives %d rows, %v: the case proves nothing", where, len(want.rows), want.err)}
		}
		if !slices.EqualFunc(last.rows, want.rows, slices.Equal) {
			return []string{fmt.Sprintf("%s: got %d rows %s, the database holds %d rows %s", where, len(last.rows), short(fmt.Sprint(last.rows)), len(want.rows), short(fmt.Sprint(want.rows)))}
		}
	case strings.HasPrefix(c.expect, "rows="):
		if n, _ := strconv.Atoi(strings.TrimPrefix(c.expect, "rows=")); len(last.rows) != n {
			return []string{fmt.Sprintf("%s: got %d rows, want %d", where, len(last.rows), n)}
		}
	default:
		want := strings.Split(strings.TrimPrefix(c.expect, "ids="), ",")
		var got []string
		for _, r := range last.rows {
			got = append(got, r[0])
		}
		if !slices.Equal(got, want) {
			return []string{fmt.Sprintf("%s: first column %v, want %v", where, got, want)}
		}
	}
	return nil
}

// verdict applies the gap marker: a gap case must fail (else the marker
// is stale), any other must pass.
func verdict(t *testing.T, l corpusLine, what string, problems []string, gaps *[]string) {
	t.Helper()
	switch {
	case l.gap && len(problems) == 0:
		t.Errorf("%s: marked gap: but now behaves as required: remove the marker", l)
	case l.gap:
		t.Logf("gap %s: %s", l, strings.Join(problems, "; "))
		*gaps = append(*gaps, fmt.Sprintf("%s %s\n\t%s", l, what, strings.Join(problems, "\n\t")))
	default:
		for _, p := range problems {
			t.Errorf("%s: %s", l, p)
		}
	}
}

func TestCorpus(t *testing.T) {
	evasions := readEvasions(t, "testdata/corpus/evasion.txt")
	lawful := readLawful(t, "testdata/corpus/lawful.txt")
	perRule := map[string]int{}
	for _, e := range evasions {
		perRule[e.rule]++
	}
	if len(evasions) < 60 || len(lawful) < 15 {
		t.Fatalf("%d evasions and %d lawful cases: want at least 60 and 15", len(evasions), len(lawful))
	}
	for i := 1; i <= 10; i++ {
		if r := fmt.Sprintf("AUP-%d", i); perRule[r] == 0 && r != "AUP-6" {
			t.Errorf("no evasion trips %s", r)
		}
	}
	t.Logf("%d evasions %v, %d lawful cases", len(evasions), perRule, len(lawful))

	st := teststack.Start(t, 2500)
	ctx := context.Background()
	admin := st.Admin(t)
	s := &sessions{st: st, keys: loadSubjectKeys(t, admin), conns: map[string]*pgx.Conn{}}
	defer s.closeAll()
	var gaps []string

	// Lawful first, so that no evasion that slips through can spend the
	// unit's coverage before them.
	t.Run("lawful", func(t *testing.T) {
		for _, c := range lawful {
			t.Run(fmt.Sprintf("%03d_%s", c.line, c.authority.name), func(t *testing.T) {
				var problems []string
				for _, p := range protocols {
					problems = append(problems, s.runLawful(admin, c, p.name, p.mode)...)
				}
				verdict(t, c.corpusLine, "lawful under "+c.authority.name, problems, &gaps)
			})
		}
	})

	run := func(t *testing.T, e evasion, suspended bool) {
		// Every session kind and protocol at once, each on its own
		// connection.
		problems := make([][]string, len(sessionKinds)*len(protocols))
		var wg sync.WaitGroup
		for i, k := range sessionKinds {
			for j, p := range protocols {
				wg.Go(func() {
					problems[i*len(protocols)+j] = s.runEvasion(e, k, p.name, p.mode, suspended)
				})
			}
		}
		wg.Wait()
		verdict(t, e.corpusLine, e.rule+" under "+e.authority.name, slices.Concat(problems...), &gaps)
	}
	t.Run("evasion", func(t *testing.T) {
		for _, e := range evasions {
			if e.rule == "AUP-8" {
				continue
			}
			t.Run(fmt.Sprintf("%03d_%s_%s", e.line, e.rule, e.authority.name), func(t *testing.T) { run(t, e, false) })
		}
	})

	// AUP-8 cases run with the whole tenant suspended, as the operator
	// suspends it: open sessions are refused from their next statement.
	t.Run("suspended", func(t *testing.T) {
		if _, err := st.Service.Suspend(ctx, "agency", "", "evasion corpus"); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := st.Service.Resume(ctx, "agency", "", "evasion corpus done"); err != nil {
				t.Error(err)
			}
		}()
		for _, e := range evasions {
			if e.rule == "AUP-8" {
				t.Run(fmt.Sprintf("%03d_%s_%s", e.line, e.rule, e.authority.name), func(t *testing.T) { run(t, e, true) })
			}
		}
	})

	if len(gaps) > 0 {
		t.Logf("%d known gaps (cases marked gap:):\n%s", len(gaps), strings.Join(gaps, "\n"))
	}
}
