package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/overseer"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/report"
	"github.com/custodes/custodes/translog"
)

// The scripted tour: a real client, over the wire, doing what DESIGN.md and
// the issues say must happen, each step printed with what was expected and
// what came. Later capabilities add their steps here.

type scenarioEnv struct {
	out      io.Writer
	persons  int
	cfg      *config.Config
	identity string // the overseer's age identity file
	operator operator
	listen   string
	logDir   string
	vkey     string
	http     string
}

// operator is what the scenario does as the operator.
type operator interface {
	Suspend(ctx context.Context, tenant, unit, reason string) (uint64, error)
	Resume(ctx context.Context, tenant, unit, reason string) (uint64, error)
}

type step struct {
	name   string
	expect string
	run    func(ctx context.Context, env scenarioEnv) (got string, err error)
}

func connect(ctx context.Context, env scenarioEnv, user, password, options string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://%s:%s@%s/agency?sslmode=disable", user, password, env.listen))
	if err != nil {
		return nil, err
	}
	if options != "" {
		cfg.RuntimeParams["options"] = options
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// outcome describes an error the way the steps expect it: the SQLSTATE and
// the rule, or "ok".
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if rule, ok := ruleOf(pe.Message); ok {
			return pe.Code + " " + rule
		}
		return pe.Code
	}
	return "error: " + err.Error()
}

func ruleOf(msg string) (string, bool) {
	_, rest, ok := strings.Cut(msg, "denied by ")
	if !ok {
		return "", false
	}
	rule, _, _ := strings.Cut(rest, " ")
	return strings.TrimSuffix(rule, ","), true
}

// asAlice runs f in a fresh session of alice's.
func as(user, options string, f func(ctx context.Context, c *pgx.Conn) (string, error)) func(context.Context, scenarioEnv) (string, error) {
	return func(ctx context.Context, env scenarioEnv) (string, error) {
		c, err := connect(ctx, env, user, user, options)
		if err != nil {
			return outcome(err), nil
		}
		defer c.Close(ctx)
		return f(ctx, c)
	}
}

func execSimple(sql string) func(ctx context.Context, c *pgx.Conn) (string, error) {
	return func(ctx context.Context, c *pgx.Conn) (string, error) {
		_, err := c.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		return outcome(err), nil
	}
}

func rows(ctx context.Context, c *pgx.Conn, sql string, args ...any) (string, error) {
	r, err := c.Query(ctx, sql, args...)
	if err != nil {
		return outcome(err), nil
	}
	n := 0
	for r.Next() {
		n++
	}
	if err := r.Err(); err != nil {
		return outcome(err), nil
	}
	return fmt.Sprintf("%d rows", n), nil
}

var scenario = []step{
	{
		name: "alice with a wrong password", expect: "28P01",
		run: func(ctx context.Context, env scenarioEnv) (string, error) {
			c, err := connect(ctx, env, "alice", "wrong", "")
			if err == nil {
				c.Close(ctx)
			}
			return outcome(err), nil
		},
	},
	{
		name: "alice without an authority: SELECT * FROM persons", expect: "42501 AUP-1",
		run: as("alice", "", execSimple("SELECT * FROM persons")),
	},
	{
		name: "alice under W-DEMO-1 reads person 101 (extended protocol)", expect: "1 rows",
		run: as("alice", "", func(ctx context.Context, c *pgx.Conn) (string, error) {
			if _, err := c.Exec(ctx, "SET custodes.authority = 'W-DEMO-1'"); err != nil {
				return outcome(err), nil
			}
			return rows(ctx, c, "SELECT full_name, nationality FROM persons WHERE person_id = $1", 101)
		}),
	},
	{
		name: "alice under W-DEMO-1 from the startup options reads person 102 (simple protocol)", expect: "1 rows",
		run: as("alice", "-c custodes.authority=W-DEMO-1", func(ctx context.Context, c *pgx.Conn) (string, error) {
			return rows(ctx, c, "SELECT full_name FROM persons WHERE person_id = 102", pgx.QueryExecModeSimpleProtocol)
		}),
	},
	{
		name: "SHOW custodes.authority after SET", expect: "W-DEMO-1",
		run: as("alice", "", func(ctx context.Context, c *pgx.Conn) (string, error) {
			if _, err := c.Exec(ctx, "SET custodes.authority TO 'W-DEMO-1'", pgx.QueryExecModeSimpleProtocol); err != nil {
				return outcome(err), nil
			}
			var v string
			if err := c.QueryRow(ctx, "SHOW custodes.authority", pgx.QueryExecModeSimpleProtocol).Scan(&v); err != nil {
				return outcome(err), nil
			}
			return v, nil
		}),
	},
	{
		name: "alice under W-DEMO-1: COPY persons TO STDOUT", expect: "42501 AUP-7",
		run: as("alice", "-c custodes.authority=W-DEMO-1", execSimple("COPY persons TO STDOUT")),
	},
	{
		name: "alice under W-DEMO-1: SELECT pg_read_file('/etc/hostname')", expect: "42501 AUP-7",
		run: as("alice", "-c custodes.authority=W-DEMO-1", execSimple("SELECT pg_read_file('/etc/hostname')")),
	},
	{
		name: "alice under W-DEMO-1: a lawful read smuggling a file read behind it", expect: "42501 AUP-7",
		run: as("alice", "-c custodes.authority=W-DEMO-1", execSimple("SELECT full_name FROM persons WHERE person_id = 101; SELECT pg_read_file('/etc/passwd')")),
	},
	{
		name: "alice under W-DEMO-1: SELECT * FROM pg_stats (catalog statistics)", expect: "42501 AUP-7",
		run: as("alice", "-c custodes.authority=W-DEMO-1", execSimple("SELECT * FROM pg_stats")),
	},
	{
		name: "alice: DELETE FROM case_files", expect: "42501 AUP-7",
		run: as("alice", "-c custodes.authority=W-DEMO-1", execSimple("DELETE FROM case_files")),
	},
	{
		name: "alice: garbage SQL", expect: "42501 AUP-9",
		run: as("alice", "", execSimple("SELEKT persons")),
	},
	{
		name: "carol (houston) sets newark's warrant W-DEMO-1", expect: "42501 AUP-1",
		run: as("carol", "", execSimple("SET custodes.authority = 'W-DEMO-1'")),
	},
	{
		name: "carol sets an authority that does not exist", expect: "42501 AUP-1",
		run: as("carol", "", execSimple("SET custodes.authority = 'W-NOPE'")),
	},

	// Targeted access only (issue 3).
	{
		name: "alice under W-DEMO-1: SELECT person_id FROM persons (no WHERE at all)", expect: "101,102,103",
		run: as("alice", "-c custodes.authority=W-DEMO-1", personIDs("SELECT person_id FROM persons ORDER BY 1")),
	},
	{
		name: "alice under W-DEMO-1: everyone with a utility account, through a CTE and a join", expect: "101,102,103",
		run: as("alice", "-c custodes.authority=W-DEMO-1", personIDs(
			"WITH u AS (SELECT person_id FROM utility_accounts) SELECT DISTINCT p.person_id FROM persons p JOIN u USING (person_id) ORDER BY 1")),
	},
	{
		name: "alice under L-DEMO-2 (5 subjects at most): a bulk read of every person", expect: "42501 AUP-3, 0 rows",
		run: as("alice", "-c custodes.authority=L-DEMO-2", countedRows("SELECT person_id, full_name FROM persons")),
	},
	{
		name: "alice under L-DEMO-2: the names of everyone, hidden in one string_agg", expect: "42501 AUP-3, 0 rows",
		run: as("alice", "-c custodes.authority=L-DEMO-2", countedRows("SELECT string_agg(full_name, ', ') FROM persons")),
	},
	{
		name: "alice under L-DEMO-2: three named subjects", expect: "0 errors, 3 rows",
		run: as("alice", "-c custodes.authority=L-DEMO-2", countedRows("SELECT person_id, full_name FROM persons WHERE person_id IN (1, 2, 3)")),
	},
	{
		name: "alice under W-DEMO-1: targeting by religion", expect: "42501 AUP-5",
		run: as("alice", "-c custodes.authority=W-DEMO-1", execSimple("SELECT full_name FROM persons WHERE religion = 'Muslim'")),
	},
	{
		name: "bob under L-DEMO-2: salami slicing, five new people at a time", expect: "42501 AUP-6 before unit newark passed 200",
		run: salami,
	},
	{
		name: "alice under W-DEMO-1: a geofence around Newark (who was there?)", expect: "42501 AUP-4",
		run: as("alice", "-c custodes.authority=W-DEMO-1", execSimple(
			"SELECT DISTINCT person_id FROM location_pings WHERE lat BETWEEN 40.70 AND 40.76 AND lon BETWEEN -74.20 AND -74.14")),
	},
	{
		name: "alice under W-DEMO-1: her warrant's subjects' pings in that box", expect: "0 errors",
		run: as("alice", "-c custodes.authority=W-DEMO-1", func(ctx context.Context, c *pgx.Conn) (string, error) {
			_, err := c.Exec(ctx, "SELECT observed_at FROM location_pings WHERE person_id IN (101, 102) AND lat BETWEEN 40 AND 41")
			if err != nil {
				return outcome(err), nil
			}
			return "0 errors", nil
		}),
	},

	// Oversight and operator actions (issues 4 and 5).
	{
		name: "the operator suspends unit newark; alice's open session, then resumed", expect: "42501 AUP-8, then 1 rows",
		run: suspension,
	},
}

// suspension switches unit newark off while alice has a session open: her
// next statement is refused with AUP-8; after resuming it is served again.
func suspension(ctx context.Context, env scenarioEnv) (string, error) {
	c, err := connect(ctx, env, "alice", "alice", "-c custodes.authority=W-DEMO-1")
	if err != nil {
		return outcome(err), nil
	}
	defer c.Close(ctx)
	if _, err := env.operator.Suspend(ctx, "agency", "newark", "scenario: reported bulk queries under review"); err != nil {
		return "", err
	}
	_, qerr := c.Exec(ctx, "SELECT full_name FROM persons WHERE person_id = 101")
	if _, err := env.operator.Resume(ctx, "agency", "newark", "scenario: review complete"); err != nil {
		return "", err
	}
	after, err := rows(ctx, c, "SELECT full_name FROM persons WHERE person_id = 101")
	if err != nil {
		return "", err
	}
	return outcome(qerr) + ", then " + after, nil
}

// personIDs runs a query of person ids and lists them.
func personIDs(sql string) func(ctx context.Context, c *pgx.Conn) (string, error) {
	return func(ctx context.Context, c *pgx.Conn) (string, error) {
		rows, err := c.Query(ctx, sql)
		if err != nil {
			return outcome(err), nil
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return outcome(err), nil
		}
		var parts []string
		for _, id := range got {
			parts = append(parts, fmt.Sprint(id))
		}
		return strings.Join(parts, ","), nil
	}
}

// countedRows reports the outcome and how many rows reached the client.
func countedRows(sql string) func(ctx context.Context, c *pgx.Conn) (string, error) {
	return func(ctx context.Context, c *pgx.Conn) (string, error) {
		rows, err := c.Query(ctx, sql)
		n := 0
		if err == nil {
			for rows.Next() {
				n++
			}
			err = rows.Err()
		}
		if err == nil {
			return fmt.Sprintf("0 errors, %d rows", n), nil
		}
		return fmt.Sprintf("%s, %d rows", outcome(err), n), nil
	}
}

// salami asks for five new people at a time until coverage stops it; the
// log is checked afterwards for the unit's distinct subjects.
func salami(ctx context.Context, env scenarioEnv) (string, error) {
	c, err := connect(ctx, env, "bob", "bob", "-c custodes.authority=L-DEMO-2")
	if err != nil {
		return outcome(err), nil
	}
	defer c.Close(ctx)
	first := int64(1000)
	if env.persons < 2000 {
		first = 1
	}
	for i := int64(0); i < 100; i++ {
		lo := first + 5*i
		rows, err := c.Query(ctx, fmt.Sprintf("SELECT person_id FROM persons WHERE person_id IN (%d, %d, %d, %d, %d)", lo, lo+1, lo+2, lo+3, lo+4))
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
		}
		if err != nil {
			if o := outcome(err); o != "42501 AUP-6" {
				return o, nil
			}
			return "42501 AUP-6 before unit newark passed 200", nil
		}
	}
	return "never stopped after 100 queries of 5 new people", nil
}

// runScenario runs every step, prints each, verifies the log, and reports
// whether everything went as expected.
func runScenario(ctx context.Context, env scenarioEnv) bool {
	fmt.Fprintln(env.out, "\nscenario:")
	ok := true
	for i, st := range scenario {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		got, err := st.run(sctx, env)
		cancel()
		if err != nil {
			got = "error: " + err.Error()
		}
		mark := "ok  "
		if got != st.expect {
			mark = "FAIL"
			ok = false
		}
		fmt.Fprintf(env.out, "%s %2d. %s\n          expected %s, got %s\n", mark, i+1, st.name, st.expect, got)
	}

	// The log must hold every one of those decisions, and verify.
	time.Sleep(1500 * time.Millisecond) // let the latest checkpoint be published
	var statements, denials, logins uint64
	newark := map[string]bool{} // distinct subject tokens unit newark received
	copyDenial := int64(-1)     // the latest denied COPY, for the overseer
	src, err := translog.OpenSource(env.logDir)
	var res *translog.Result
	if err == nil {
		res, err = translog.Verify(ctx, src, env.vkey, translog.VerifyOptions{Entry: func(i uint64, data []byte) error {
			e, err := record.Parse(data)
			if err != nil {
				return err
			}
			switch {
			case e.Kind == record.KindStatement && e.Decision == "deny":
				denials++
				statements++
				if e.Class == "copy_out" {
					copyDenial = int64(i)
				}
			case e.Kind == record.KindStatement:
				statements++
				if e.Unit == "newark" {
					for _, tok := range e.SubjectTokens {
						newark[tok] = true
					}
				}
			case e.Kind == record.KindLoginFailure:
				logins++
			}
			return nil
		}})
	}
	mark := "ok  "
	got := ""
	if err != nil {
		mark, ok, got = "FAIL", false, err.Error()
	} else {
		got = fmt.Sprintf("verified %d entries (%d statements, %d denied, %d login failures); unit newark received %d distinct subjects, cap 200",
			res.Size, statements, denials, logins, len(newark))
		if len(newark) > 200 {
			mark, ok = "FAIL", false
		}
		var wantDenials, wantLogins uint64
		for _, st := range scenario {
			switch {
			case strings.HasPrefix(st.expect, "42501"):
				wantDenials++
			case st.expect == "28P01":
				wantLogins++
			}
		}
		if denials < wantDenials || logins < wantLogins {
			mark, ok = "FAIL", false
		}
	}
	fmt.Fprintf(env.out, "%s %2d. custodes verify on the demo's log\n          expected every decision above recorded, got %s\n", mark, len(scenario)+1, got)

	// An outsider with only the console's URL and the verifier key verifies
	// the log over HTTP, recomputes the report, and gets /api/report's
	// numbers, byte for byte, for the same checkpoint.
	mark, got = "ok  ", ""
	if same, detail, err := sameReport(ctx, env); err != nil {
		mark, ok, got = "FAIL", false, err.Error()
	} else if !same {
		mark, ok, got = "FAIL", false, detail
	} else {
		got = detail
	}
	fmt.Fprintf(env.out, "%s %2d. an outsider recomputes the report from http://%s/log/\n          expected the same JSON as /api/report, got %s\n", mark, len(scenario)+2, env.http, got)

	// A modified copy of the log fails verification, with the evidence.
	mark, got = "ok  ", ""
	if err := tamperedCopyFails(ctx, env); err != nil {
		mark, ok, got = "FAIL", false, err.Error()
	} else {
		got = "verification failed"
	}
	fmt.Fprintf(env.out, "%s %2d. one byte changed in a copy of the log\n          expected verification to fail, got %s\n", mark, len(scenario)+3, got)

	// An overseer opens the sealed detail of the denied COPY and finds the
	// SQL the analyst sent, matching the public entry's commitment.
	mark, got = "ok  ", ""
	want := "COPY persons TO STDOUT"
	if copyDenial < 0 {
		mark, ok, got = "FAIL", false, "no denied COPY in the log"
	} else if id, err := os.ReadFile(env.identity); err != nil {
		mark, ok, got = "FAIL", false, err.Error()
	} else if _, plain, err := overseer.Unseal(ctx, env.cfg, env.vkey, uint64(copyDenial), id); err != nil {
		mark, ok, got = "FAIL", false, err.Error()
	} else {
		var d struct{ SQL string }
		json.Unmarshal(plain, &d)
		got = fmt.Sprintf("entry %d: %q, matching its commitment", copyDenial, d.SQL)
		if d.SQL != want {
			mark, ok = "FAIL", false
		}
	}
	fmt.Fprintf(env.out, "%s %2d. an overseer unseals the denied COPY\n          expected %q, got %s\n", mark, len(scenario)+4, want, got)

	if ok {
		fmt.Fprintln(env.out, "scenario: every outcome was as expected")
	} else {
		fmt.Fprintln(env.out, "scenario: FAILED")
	}
	return ok
}

// sameReport fetches /api/report and computes the report from the public
// log over HTTP; both must name the same checkpoint and be byte-identical.
func sameReport(ctx context.Context, env scenarioEnv) (bool, string, error) {
	for attempt := 0; attempt < 5; attempt++ {
		time.Sleep(1500 * time.Millisecond) // the latest checkpoint is published
		resp, err := http.Get("http://" + env.http + "/api/report")
		if err != nil {
			return false, "", err
		}
		served, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return false, "", fmt.Errorf("GET /api/report: %s %v", resp.Status, err)
		}
		src, err := translog.OpenSource("http://" + env.http + "/log/")
		if err != nil {
			return false, "", err
		}
		r, err := report.Compute(ctx, src, env.vkey, report.Options{})
		if err != nil {
			return false, "", err
		}
		mine, err := r.JSON()
		if err != nil {
			return false, "", err
		}
		if bytes.Equal(mine, served) {
			return true, fmt.Sprintf("identical (%d bytes, checkpoint of %d entries)", len(mine), r.Checkpoint.Size), nil
		}
		// The log may have grown between the two reads: try again.
	}
	return false, "the recomputed report differs from /api/report", nil
}

// tamperedCopyFails copies the log, flips one byte of the entry bundle the
// checkpoint covers last, and expects verification of the copy to fail.
func tamperedCopyFails(ctx context.Context, env scenarioEnv) error {
	dir, err := os.MkdirTemp("", "custodes-tampered-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.CopyFS(dir, os.DirFS(env.logDir)); err != nil {
		return fmt.Errorf("couldn't copy the log: %w", err)
	}
	cp, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		return err
	}
	lines := strings.Split(string(cp), "\n")
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || size == 0 {
		return fmt.Errorf("the checkpoint has no entries")
	}
	last := (size - 1) / layout.EntryBundleWidth
	bundle := filepath.Join(dir, layout.EntriesPath(last, layout.PartialTileSize(0, last, size)))
	b, err := os.ReadFile(bundle)
	if err != nil {
		return fmt.Errorf("couldn't read the last entry bundle: %w", err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(bundle, b, 0o644); err != nil {
		return err
	}
	src, err := translog.OpenSource(dir)
	if err != nil {
		return err
	}
	if _, err := translog.Verify(ctx, src, env.vkey, translog.VerifyOptions{}); err == nil {
		return fmt.Errorf("the modified copy verified")
	}
	return nil
}
