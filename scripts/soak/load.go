package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodes/custodes/internal/deployment"
)

// A workload is one kind of statement the load sends, over and over, and
// the outcomes it may have: "allow" or a rule id.
type workload struct {
	name     string
	analyst  string
	options  string // startup options (the authority)
	sql      string
	pause    time.Duration // between statements
	churn    bool          // a new session for every statement
	expected []string
}

var workloads = []workload{
	{name: "lawful (alice, W-DEMO-1)", analyst: "alice", options: "-c custodes.authority=W-DEMO-1", sql: "SELECT full_name FROM persons WHERE person_id = %d", pause: 10 * time.Millisecond, expected: []string{"allow"}},
	{name: "lawful (alice, W-DEMO-1)", analyst: "alice", options: "-c custodes.authority=W-DEMO-1", sql: "SELECT full_name FROM persons WHERE person_id = %d", pause: 10 * time.Millisecond, expected: []string{"allow"}},
	{name: "lawful, a session each", analyst: "alice", options: "-c custodes.authority=W-DEMO-1", sql: "SELECT full_name FROM persons WHERE person_id = %d", pause: 100 * time.Millisecond, churn: true, expected: []string{"allow"}},
	{name: "no authority (bob)", analyst: "bob", sql: "SELECT full_name FROM persons WHERE person_id = %d", pause: 20 * time.Millisecond, expected: []string{"AUP-1"}},
	{name: "export (alice, COPY TO STDOUT)", analyst: "alice", options: "-c custodes.authority=W-DEMO-1", sql: "COPY persons TO STDOUT", pause: 20 * time.Millisecond, expected: []string{"AUP-7"}},
	{name: "bulk (alice, L-DEMO-2, every person)", analyst: "alice", options: "-c custodes.authority=L-DEMO-2", sql: "SELECT person_id, full_name FROM persons", pause: 50 * time.Millisecond, expected: []string{"AUP-3"}},
	{name: "houston (carol, W-DEMO-3)", analyst: "carol", options: "-c custodes.authority=W-DEMO-3", sql: "SELECT full_name FROM persons WHERE person_id = 2001", pause: 10 * time.Millisecond, expected: []string{"allow", "AUP-8"}},
}

var units = map[string]string{"alice": "newark", "bob": "newark", "carol": "houston"}

// tally counts what the clients saw: per workload and outcome, and as the
// report counts statements (allowed and denied by unit, denials by rule).
type tally struct {
	mu         sync.Mutex
	byWorkload map[string]map[string]uint64 // workload → outcome → count
	allowed    map[string]uint64            // by unit
	denied     map[string]uint64            // by unit
	byRule     map[string]uint64
	other      map[string]uint64 // outcomes that are neither: errors, unrecorded denials
	rows       uint64            // rows received
	sessions   uint64
	cycles     uint64 // suspensions of houston that were resumed
	operator   []string
}

var (
	denialRE = regexp.MustCompile(`^custodes: denied by (AUP-\d+)`)
	alsoRE   = regexp.MustCompile(`; the statement also breaks (.+)$`)
	entryRE  = regexp.MustCompile(`^recorded as entry \d+ of log `)
)

// count files one statement's outcome: err nil (allowed), a denial that
// names its entry, or anything else.
func (t *tally) count(w *workload, err error, rows int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows += uint64(rows)
	unit := units[w.analyst]
	outcome := "allow"
	var pe *pgconn.PgError
	switch {
	case err == nil:
		t.allowed[unit]++
	case errors.As(err, &pe) && pe.Code == "42501" && denialRE.MatchString(pe.Message) && entryRE.MatchString(pe.Detail):
		outcome = denialRE.FindStringSubmatch(pe.Message)[1]
		t.denied[unit]++
		t.byRule[outcome]++
		if m := alsoRE.FindStringSubmatch(pe.Detail); m != nil {
			for _, r := range strings.Split(m[1], ", ") {
				t.byRule[r]++
			}
		}
	default:
		outcome = "error: " + short(err)
		t.other[outcome]++
	}
	if t.byWorkload[w.name] == nil {
		t.byWorkload[w.name] = map[string]uint64{}
	}
	t.byWorkload[w.name][outcome]++
}

func short(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// runLoad runs every workload until ctx ends, and houston's suspensions.
func runLoad(ctx context.Context, o *options, d *deployment.Deployment) *tally {
	t := &tally{byWorkload: map[string]map[string]uint64{}, allowed: map[string]uint64{}, denied: map[string]uint64{}, byRule: map[string]uint64{}, other: map[string]uint64{}}
	var wg sync.WaitGroup
	for i := range workloads {
		w := &workloads[i]
		wg.Go(func() { t.client(ctx, d, w, i) })
	}
	wg.Go(func() { t.suspensions(ctx, o, d) })
	wg.Wait()
	return t
}

// client runs w until ctx ends.
func (t *tally) client(ctx context.Context, d *deployment.Deployment, w *workload, seed int) {
	var c *pgx.Conn
	defer func() {
		if c != nil {
			c.Close(context.Background())
		}
	}()
	for i := seed; ctx.Err() == nil; i++ {
		if c == nil {
			var err error
			if c, err = t.connect(d, w); err != nil {
				if ctx.Err() == nil {
					time.Sleep(time.Second) // counted; don't spin
				}
				continue
			}
		}
		sql := w.sql
		if strings.Contains(sql, "%d") {
			sql = fmt.Sprintf(sql, 101+i%3)
		}
		// The statement runs to its end even as the load stops, so that
		// every outcome counted is one the gateway decided.
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		n, err := run1(sctx, c, sql)
		cancel()
		t.count(w, err, n)
		var pe *pgconn.PgError
		if (err != nil && !errors.As(err, &pe)) || w.churn || c.IsClosed() {
			c.Close(context.Background())
			c = nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.pause):
		}
	}
}

// connect opens a session for w; setting the authority in the startup
// options is a statement of its own, counted.
func (t *tally) connect(d *deployment.Deployment, w *workload) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(d.AnalystURL(w.analyst))
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol // one Query, one statement, one entry
	if w.options != "" {
		cfg.RuntimeParams["options"] = w.options
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if w.options != "" {
		set := *w
		set.name = "SET custodes.authority at connect"
		t.count(&set, err, 0)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil:
		t.sessions++
	case w.options == "":
		t.other["connect: "+short(err)]++
	}
	return c, err
}

// run1 runs one statement of the simple protocol and reads its rows.
func run1(ctx context.Context, c *pgx.Conn, sql string) (int, error) {
	if strings.HasPrefix(sql, "COPY") {
		_, err := c.PgConn().CopyTo(ctx, io.Discard, sql)
		return 0, err
	}
	rows, err := c.Query(ctx, sql)
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	return n, rows.Err()
}

// suspensions suspends unit houston every o.cycle for o.suspend, with the
// operator's commands, until ctx ends; a suspension begun is always
// resumed.
func (t *tally) suspensions(ctx context.Context, o *options, d *deployment.Deployment) {
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(o.cycle - o.suspend):
		}
		if err := operator(context.Background(), d, "suspend", "houston", fmt.Sprintf("soak: suspension %d", n)); err != nil {
			t.note(err.Error())
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.suspend):
		}
		if err := operator(context.Background(), d, "resume", "houston", fmt.Sprintf("soak: suspension %d over", n)); err != nil {
			t.note(err.Error())
			return
		}
		t.mu.Lock()
		t.cycles++
		t.mu.Unlock()
	}
}

func (t *tally) note(s string) {
	t.mu.Lock()
	t.operator = append(t.operator, s)
	t.mu.Unlock()
	say("soak: %s", s)
}

func (t *tally) statements() (allowed, denied uint64) {
	for _, n := range t.allowed {
		allowed += n
	}
	for _, n := range t.denied {
		denied += n
	}
	return allowed, denied
}

// check adds the load's own expectations: every workload ran and had only
// the outcomes it may have, and houston was suspended and denied.
func (t *tally) check(c *checklist) {
	checked := map[string]bool{}
	for _, w := range append(slices.Clone(workloads), workload{name: "SET custodes.authority at connect", expected: []string{"allow"}}) {
		if checked[w.name] {
			continue // two clients of one workload
		}
		checked[w.name] = true
		got := t.byWorkload[w.name]
		var total uint64
		var unexpected []string
		for outcome, n := range got {
			total += n
			if !slices.Contains(w.expected, outcome) {
				unexpected = append(unexpected, fmt.Sprintf("%d× %s", n, outcome))
			}
		}
		slices.Sort(unexpected)
		c.add("outcomes of "+w.name, total > 0 && len(unexpected) == 0, strings.Join(unexpected, "; "))
	}
	c.add("houston suspended and resumed", t.cycles > 0 && len(t.operator) == 0, fmt.Sprintf("%d cycles %s", t.cycles, strings.Join(t.operator, "; ")))
	c.add("carol denied AUP-8 while suspended", t.byWorkload[workloads[6].name]["AUP-8"] > 0, "")
	var other []string
	for o, n := range t.other {
		other = append(other, fmt.Sprintf("%d× %s", n, o))
	}
	slices.Sort(other)
	c.add("no statement without a decision", len(other) == 0, strings.Join(other, "; "))
}

// print writes what the load did.
func (t *tally) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\toutcome\tstatements")
	names := slices.Sorted(maps.Keys(t.byWorkload))
	for _, name := range names {
		for _, outcome := range slices.Sorted(maps.Keys(t.byWorkload[name])) {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", name, outcome, t.byWorkload[name][outcome])
		}
	}
	allowed, denied := t.statements()
	fmt.Fprintf(tw, "total\tallowed %d, denied %d\t%d\n", allowed, denied, allowed+denied)
	fmt.Fprintf(tw, "\t%d sessions, %d rows received, %d suspension cycles\t\n", t.sessions, t.rows, t.cycles)
	tw.Flush()
}
