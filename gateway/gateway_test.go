package gateway_test

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/pgtest"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, st *teststack.Stack, user, options string) *pgx.Conn {
	t.Helper()
	return connectMode(t, st, user, options, pgx.QueryExecModeCacheStatement)
}

func connectMode(t *testing.T, st *teststack.Stack, user, options string, mode pgx.QueryExecMode) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(st.URL(user))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	if options != "" {
		cfg.RuntimeParams["options"] = options
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

var denialRE = regexp.MustCompile(`^custodes: denied by (AUP-\d+)`)
var entryRE = regexp.MustCompile(`^recorded as entry (\d+) of log test\.custodes/agency`)

// wantDenied checks err is a 42501 denial by rule, in DESIGN.md's shape.
func wantDenied(t *testing.T, err error, rule string) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("want denial by %s, got %v", rule, err)
	}
	if pe.Code != "42501" {
		t.Fatalf("want SQLSTATE 42501, got %s: %s", pe.Code, pe.Message)
	}
	m := denialRE.FindStringSubmatch(pe.Message)
	also := regexp.MustCompile(`also breaks .*\b` + rule + `\b`)
	if m == nil || (m[1] != rule && !also.MatchString(pe.Detail)) {
		t.Fatalf("want denial by %s, got %q (%s)", rule, pe.Message, pe.Detail)
	}
	if !entryRE.MatchString(pe.Detail) {
		t.Fatalf("detail %q does not name the log entry", pe.Detail)
	}
	if pe.Hint == "" {
		t.Fatalf("denial %q has no hint", pe.Message)
	}
}

func simple(c *pgx.Conn, sql string) error {
	_, err := c.Exec(context.Background(), sql, pgx.QueryExecModeSimpleProtocol)
	return err
}

func names(t *testing.T, c *pgx.Conn, sql string, args ...any) []string {
	t.Helper()
	rows, err := c.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func TestSkeleton(t *testing.T) {
	st := teststack.Start(t, 2500)
	ctx := context.Background()

	// The truth, straight from the database, to compare with.
	admin := st.Admin(t)
	var name101 string
	if err := admin.QueryRow(ctx, "SELECT full_name FROM persons WHERE person_id = 101").Scan(&name101); err != nil {
		t.Fatal(err)
	}

	t.Run("no authority", func(t *testing.T) {
		c := connect(t, st, "alice", "")
		wantDenied(t, simple(c, "SELECT * FROM persons"), "AUP-1")
		_, err := c.Query(ctx, "SELECT full_name FROM persons WHERE person_id = $1", 101)
		wantDenied(t, err, "AUP-1")
		// Reference data is about no one: no authority needed.
		if got := names(t, c, "SELECT city FROM addresses WHERE address_id = $1", 1); len(got) != 1 {
			t.Fatalf("addresses: got %d rows", len(got))
		}
	})

	t.Run("warrant", func(t *testing.T) {
		c := connect(t, st, "alice", "")
		if err := simple(c, "SET custodes.authority = 'W-DEMO-1'"); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec} {
			got := names(t, c, "SELECT full_name FROM persons WHERE person_id = $1", mode, 101)
			if len(got) != 1 || got[0] != name101 {
				t.Fatalf("mode %v: got %q, want [%q]", mode, got, name101)
			}
		}
		var v string
		if err := c.QueryRow(ctx, "SHOW custodes.authority").Scan(&v); err != nil || v != "W-DEMO-1" {
			t.Fatalf("SHOW custodes.authority = %q, %v", v, err)
		}
		if err := simple(c, "RESET custodes.authority"); err != nil {
			t.Fatal(err)
		}
		wantDenied(t, simple(c, "SELECT full_name FROM persons WHERE person_id = 101"), "AUP-1")
		// SET ... TO and a multi-statement string that sets, then reads.
		rows, err := c.Query(ctx, "SET custodes.authority TO 'W-DEMO-1'; SELECT full_name FROM persons WHERE person_id = 101", pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if got := names(t, c, "SELECT full_name FROM persons WHERE person_id = 101", pgx.QueryExecModeSimpleProtocol); len(got) != 1 {
			t.Fatalf("after SET in a multi-statement string: %q", got)
		}
	})

	t.Run("startup options", func(t *testing.T) {
		c := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
		if got := names(t, c, "SELECT full_name FROM persons WHERE person_id = $1", 101); len(got) != 1 {
			t.Fatalf("got %q", got)
		}
		cfg, _ := pgx.ParseConfig(st.URL("alice"))
		cfg.RuntimeParams["options"] = "-c row_security=off"
		_, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Fatalf("startup option row_security=off: %v", err)
		}
		cfg.RuntimeParams["options"] = "-c custodes.authority=W-DEMO-3"
		_, err = pgx.ConnectConfig(ctx, cfg)
		wantDenied(t, err, "AUP-1")
	})

	t.Run("bad authorities", func(t *testing.T) {
		c := connect(t, st, "carol", "")
		wantDenied(t, simple(c, "SET custodes.authority = 'W-DEMO-1'"), "AUP-1")
		wantDenied(t, simple(c, "SET custodes.authority = 'W-NOPE'"), "AUP-1")
		a := connect(t, st, "alice", "")
		wantDenied(t, simple(a, "SET custodes.authority = 'W-EXPIRED'"), "AUP-1")
		// A refused SET leaves the session without authority.
		wantDenied(t, simple(a, "SELECT full_name FROM persons WHERE person_id = 101"), "AUP-1")
	})

	t.Run("export and side channels", func(t *testing.T) {
		c := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
		for _, sql := range []string{
			"COPY persons TO STDOUT",
			"COPY (SELECT * FROM persons WHERE person_id = 101) TO STDOUT",
			"SELECT pg_read_file('/etc/hostname')",
			"SELECT full_name FROM persons WHERE person_id = (SELECT length(pg_read_file('/etc/hostname')))",
			"SELECT full_name FROM persons WHERE person_id = 101; SELECT pg_read_file('/etc/passwd')",
			"DELETE FROM case_files",
			"CREATE TABLE loot AS SELECT * FROM persons",
			"SELECT * INTO loot FROM persons",
			"DO $$ BEGIN PERFORM 1; END $$",
			"SET ROLE postgres",
			"SET row_security = off",
			"SELECT set_config('custodes.authority', 'W-DEMO-3', false)",
			"SELECT query_to_xml('select * from persons', true, true, '')",
			"SELECT lo_import('/etc/passwd')",
		} {
			wantDenied(t, simple(c, sql), "AUP-7")
		}
		// Extended protocol: the Parse is judged too.
		_, err := c.Exec(ctx, "SELECT pg_read_file($1)", "/etc/hostname")
		wantDenied(t, err, "AUP-7")
		// The session still works after denials.
		if got := names(t, c, "SELECT full_name FROM persons WHERE person_id = $1", 102); len(got) != 1 {
			t.Fatalf("after denials: %q", got)
		}
	})

	t.Run("unregistered and unparseable", func(t *testing.T) {
		c := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
		wantDenied(t, simple(c, "SELECT * FROM pg_stats"), "AUP-2")
		wantDenied(t, simple(c, "SELECT * FROM pg_catalog.pg_authid"), "AUP-2")
		wantDenied(t, simple(c, "SELEKT 1"), "AUP-9")
	})

	t.Run("authority must cover datasets", func(t *testing.T) {
		c := connect(t, st, "alice", "-c custodes.authority=L-DEMO-2")
		wantDenied(t, simple(c, "SELECT * FROM location_pings WHERE person_id = 101"), "AUP-2")
	})

	t.Run("wrong password and unknown user", func(t *testing.T) {
		for _, u := range []string{"postgres://alice:wrong@" + st.Addr + "/agency_x", "postgres://mallory:mallory@" + st.Addr + "/agency"} {
			_, err := pgx.Connect(ctx, u+"?sslmode=disable")
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "28P01" {
				t.Fatalf("%s: want 28P01, got %v", u, err)
			}
		}
	})

	t.Run("pipeline", func(t *testing.T) {
		c := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
		b := &pgx.Batch{}
		for _, id := range []int{101, 102, 103} {
			b.Queue("SELECT full_name FROM persons WHERE person_id = $1", id)
		}
		br := c.SendBatch(ctx, b)
		for range 3 {
			var s string
			if err := br.QueryRow().Scan(&s); err != nil {
				t.Fatal(err)
			}
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
		// A denied statement in the middle of one pipeline of
		// Parse/Bind/Describe/Execute: the first result is released, the
		// second denied, the third never runs.
		c = connectMode(t, st, "alice", "-c custodes.authority=W-DEMO-1", pgx.QueryExecModeExec)
		b = &pgx.Batch{}
		b.Queue("SELECT full_name FROM persons WHERE person_id = $1", 101)
		b.Queue("SELECT pg_read_file($1)", "/etc/hostname")
		b.Queue("SELECT full_name FROM persons WHERE person_id = $1", 102)
		br = c.SendBatch(ctx, b)
		var s string
		if err := br.QueryRow().Scan(&s); err != nil {
			t.Fatalf("first of pipeline: %v", err)
		}
		wantDenied(t, br.QueryRow().Scan(&s), "AUP-7")
		br.Close()
		if got := names(t, c, "SELECT full_name FROM persons WHERE person_id = $1", 103); len(got) != 1 {
			t.Fatalf("after pipeline: %q", got)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		c := connect(t, st, "alice", "")
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Exec(cctx, "SELECT pg_sleep(30)")
		if err == nil || time.Since(start) > 10*time.Second {
			t.Fatalf("pg_sleep(30) with a 500ms deadline: err=%v after %v", err, time.Since(start))
		}
		// The CancelRequest must have reached the backend query: without it
		// the backend would sleep on for 30 s.
		deadline := time.Now().Add(5 * time.Second)
		for {
			var n int
			if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the backend query is still running: the cancel did not reach it")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("psql", func(t *testing.T) {
		psql, err := exec.LookPath("psql")
		if err != nil {
			t.Skip("no psql on PATH")
		}
		out, err := exec.Command(psql, st.URL("alice"), "-X", "-At",
			"-c", "SET custodes.authority = 'W-DEMO-1'",
			"-c", "SELECT full_name FROM persons WHERE person_id = 101").CombinedOutput()
		if err != nil || !strings.Contains(string(out), name101) {
			t.Fatalf("psql: %v\n%s", err, out)
		}
		out, err = exec.Command(psql, st.URL("alice"), "-X", "-At",
			"-c", "SET custodes.authority = 'W-DEMO-1'",
			"-c", `\copy persons to stdout`).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "denied by AUP-7") || strings.Contains(string(out), name101) {
			t.Fatalf("psql \\copy: %v\n%s", err, out)
		}
	})

	// Every decision above is in the log, and the log verifies.
	time.Sleep(1500 * time.Millisecond)
	src, err := translog.OpenSource(st.LogDir)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	res, err := translog.Verify(ctx, src, st.VKey, translog.VerifyOptions{Entry: func(i uint64, data []byte) error {
		e, err := record.Parse(data)
		if err != nil {
			return err
		}
		counts[string(e.Kind)+"/"+e.Decision]++
		for _, r := range e.Rules {
			counts[r]++
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verified %d entries: %v", res.Size, counts)
	if counts["authority_issued/"] != 5 || counts["login_failure/"] < 2 || counts["AUP-7"] < 16 || counts["statement/allow"] < 10 {
		t.Fatalf("log is missing decisions: %v", counts)
	}
}
