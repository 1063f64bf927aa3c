//go:build linux

package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodes/custodes/cli"
	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/internal/tmpfs"
	"github.com/custodes/custodes/pgtest"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

// Faults around the gateway (issue 7, DESIGN.md "Reliability and security
// promises"): the backend's session killed, the backend unreachable and
// back, the control database's connections killed, the log's storage full,
// and kill -9 of `custodes serve` under load. Each bounds every wait, so a
// hang fails the test instead of stalling it.

// faultBound is how long a client may wait for the error a fault causes.
const faultBound = 3 * time.Second

// faultQuery is alice's lawful statement under W-DEMO-1.
const faultQuery = "SELECT full_name FROM persons WHERE person_id = $1"

// faultRead runs faultQuery for subject within faultBound and returns the
// rows received, the error and how long it took.
func faultRead(c *pgx.Conn, subject int) ([]string, error, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), faultBound+2*time.Second)
	defer cancel()
	start := time.Now()
	var got []string
	rows, err := c.Query(ctx, faultQuery, subject)
	if err == nil {
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err == nil {
				got = append(got, s)
			}
		}
		rows.Close()
		err = rows.Err()
	}
	return got, err, time.Since(start)
}

// faultConnect connects as user (password = name) to addr within bound.
func faultConnect(addr, db, user, options string, bound time.Duration) (*pgx.Conn, error, time.Duration) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", user, user, addr, db))
	if err != nil {
		return nil, err, 0
	}
	if options != "" {
		cfg.RuntimeParams["options"] = options
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	c, err := pgx.ConnectConfig(ctx, cfg)
	return c, err, time.Since(start)
}

// wantFaultError checks a statement hit by a fault failed, with no rows,
// within faultBound.
func wantFaultError(t *testing.T, what string, got []string, err error, took time.Duration) {
	t.Helper()
	t.Logf("%s: %v after %v", what, err, took.Round(time.Millisecond))
	if len(got) > 0 {
		t.Errorf("%s: %d rows reached the client", what, len(got))
	}
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	if took > faultBound {
		t.Errorf("%s: the error took %v, want under %v", what, took, faultBound)
	}
}

// tcpProxy stands between the gateway and the backend, so that a test can
// take the backend away (the port closed, every connection cut) and bring
// it back, or have it accept connections and never answer.
type tcpProxy struct {
	target, addr string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	stall bool
}

func newProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = true
			stall := p.stall
			p.mu.Unlock()
			if !stall {
				go p.pipe(c)
			}
		}
	}()
}

func (p *tcpProxy) pipe(c net.Conn) {
	b, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[b] = true
	p.mu.Unlock()
	go func() { io.Copy(b, c); b.Close() }()
	io.Copy(c, b)
	c.Close()
}

// down closes the port and cuts every connection through it.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// up opens the port again.
func (p *tcpProxy) up(t *testing.T) {
	t.Helper()
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("couldn't reopen the proxy's port: %v", err)
}

func (p *tcpProxy) setStall(stall bool) {
	p.mu.Lock()
	p.stall = stall
	p.mu.Unlock()
}

// faultLog verifies the stack's log, polling until want accepts what it
// read (the checkpoint trails appends by up to a second), and returns every
// entry by index.
func faultLog(t *testing.T, dir, vkey string, want func(map[uint64]*record.Entry) error) map[uint64]*record.Entry {
	t.Helper()
	var last error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		src, err := translog.OpenSource(dir)
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint64]*record.Entry{}
		_, err = translog.Verify(context.Background(), src, vkey, translog.VerifyOptions{Entry: func(i uint64, b []byte) error {
			e, err := record.Parse(b)
			if err != nil {
				return err
			}
			got[i] = e
			return nil
		}})
		if err != nil {
			t.Fatalf("the log does not verify: %v", err)
		}
		if last = want(got); last == nil {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log (%d entries): %v", len(got), last)
		}
	}
}

// allowedWithRows counts allowed statement entries that released rows.
func allowedWithRows(es map[uint64]*record.Entry) int {
	n := 0
	for _, e := range es {
		if e.Kind == record.KindStatement && e.Decision == "allow" && e.Rows > 0 {
			n++
		}
	}
	return n
}

func roleOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.User.Username()
}

// TestFaultBackend takes the agency database away from the gateway three
// ways. Its session's backend terminated (what a backend crash or restart
// does to each session), and the backend gone (port closed, connections
// cut) and back: the analyst's next statement fails at once with no rows,
// connecting while it is gone fails at once and says why, and afterwards
// new sessions are served and recorded. And the backend accepting
// connections but never answering (a hung server, a half-open network).
func TestFaultBackend(t *testing.T) {
	cluster := pgtest.Cluster(t)
	px := newProxy(t, net.JoinHostPort(cluster.Host(), strconv.Itoa(cluster.Port())))
	st := teststack.Start(t, 200, func(c *config.Config) {
		u, err := url.Parse(c.Backend.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = px.addr
		c.Backend.URL = u.String()
	})
	admin := st.Admin(t)
	gwRole := roleOf(t, st.Config.Backend.URL)
	db := st.Config.BackendDatabase()
	served := 0 // statements whose rows reached a client
	open := func(t *testing.T) *pgx.Conn {
		t.Helper()
		c, err, took := faultConnect(st.Addr, db, "alice", "-c custodes.authority=W-DEMO-1", 10*time.Second)
		if err != nil {
			t.Fatalf("connect after %v: %v", took, err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	read := func(t *testing.T, c *pgx.Conn, subject int) {
		t.Helper()
		got, err, took := faultRead(c, subject)
		if err != nil || len(got) != 1 {
			t.Fatalf("lawful read of %d: %q, %v after %v", subject, got, err, took)
		}
		served++
	}

	t.Run("session backend terminated", func(t *testing.T) {
		c := open(t)
		read(t, c, 101)
		terminateSessionBackend(t, admin, db, gwRole)
		got, err, took := faultRead(c, 102)
		wantFaultError(t, "the statement after the backend was terminated", got, err, took)
		got, err, took = faultRead(c, 103)
		wantFaultError(t, "the one after that, on the same connection", got, err, took)
		read(t, open(t), 102)
	})

	t.Run("the client is told why", func(t *testing.T) {
		c := open(t)
		read(t, c, 101)
		terminateSessionBackend(t, admin, db, gwRole)
		got, err, took := faultRead(c, 102)
		wantFaultError(t, "the statement after the backend was terminated", got, err, took)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Severity != "FATAL" {
			t.Fatalf("want a FATAL error from the gateway saying the database connection was lost, got %v", err)
		}
	})

	t.Run("backend down and back", func(t *testing.T) {
		c := open(t)
		read(t, c, 101)
		px.down()
		got, err, took := faultRead(c, 102)
		wantFaultError(t, "the statement after the backend went away", got, err, took)

		_, err, took = faultConnect(st.Addr, db, "alice", "-c custodes.authority=W-DEMO-1", faultBound+2*time.Second)
		t.Logf("connecting while the backend is away: %v after %v", err, took.Round(time.Millisecond))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "08006" || !strings.Contains(pe.Message, "not reachable") {
			t.Errorf("connecting while the backend is away: want SQLSTATE 08006 saying it is not reachable, got %v", err)
		}
		if took > faultBound {
			t.Errorf("connecting while the backend is away took %v", took)
		}

		px.up(t)
		c = open(t)
		read(t, c, 103)
		read(t, c, 101)
	})

	t.Run("backend accepts and never answers", func(t *testing.T) {
		px.setStall(true)
		defer px.setStall(false)
		const bound = 10*time.Second + 2*time.Second // StartupTimeout, and some
		_, err, took := faultConnect(st.Addr, db, "alice", "", bound+5*time.Second)
		t.Logf("connecting while the backend never answers: %v after %v", err, took.Round(time.Millisecond))
		if err == nil || took > bound {
			t.Fatalf("connecting while the backend never answers: %v after %v, want an error within %v", err, took, bound)
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "08006" {
			t.Errorf("want SQLSTATE 08006, got %v", err)
		}
	})

	// Everything served is on the record, and the log verifies.
	es := faultLog(t, st.LogDir, st.VKey, func(es map[uint64]*record.Entry) error {
		if n := allowedWithRows(es); n < served {
			return fmt.Errorf("%d allowed statements with rows, but clients received rows of %d", n, served)
		}
		return nil
	})
	t.Logf("%d statements served, %d allowed entries with rows in a log of %d", served, allowedWithRows(es), len(es))
}

// terminateSessionBackend ends the newest analyst session's backend, as a
// backend crash or restart would, and waits until it is gone.
func terminateSessionBackend(t *testing.T, admin *pgx.Conn, db, gwRole string) {
	t.Helper()
	ctx := context.Background()
	// The newest: the session just opened (others may still be ending).
	rows, _ := admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND usename = $2 AND application_name LIKE 'custodes:%' ORDER BY backend_start DESC LIMIT 1`, db, gwRole)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(pids) != 1 {
		t.Fatalf("the session's backend: %v %v", pids, err)
	}
	var ok bool
	if err := admin.QueryRow(ctx, "SELECT pg_terminate_backend($1, 2000)", pids[0]).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d): %v %v", pids[0], ok, err)
	}
}

// TestFaultControlDatabase cuts every connection of the control role — to
// the control database (its pool and the listener that keeps the
// authority and suspension caches honest) and to the agency database (the
// scope pool) — as a restart of the control database would. Statements
// must not hang; service must come back by itself; a suspension made by
// another process afterwards must still stop the unit's next statements
// (the listener back, no stale cache); and the private records held back
// in the journal must reach the control database.
func TestFaultControlDatabase(t *testing.T) {
	st := teststack.Start(t, 200)
	ctx := context.Background()
	admin := st.Admin(t)
	ctlRole := roleOf(t, st.Config.Control.URL)
	alice := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	if got, err, _ := faultRead(alice, 101); err != nil || len(got) != 1 {
		t.Fatalf("before: %q %v", got, err)
	}

	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 2000) FROM pg_stat_activity WHERE usename = $1) k`, ctlRole).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	t.Logf("terminated %d control-role connections", killed)
	if killed < 2 {
		t.Fatalf("only %d control-role connections to terminate", killed)
	}
	// Statements right after: allowed or denied, never a hang.
	for i := range 5 {
		got, err, took := faultRead(alice, 101+i%3)
		t.Logf("statement %d after the cut: %d rows, %v, after %v", i, len(got), err, took.Round(time.Millisecond))
		if took > faultBound {
			t.Errorf("statement %d after the cut took %v", i, took)
		}
		if err != nil && len(got) > 0 {
			t.Errorf("statement %d failed but released %d rows", i, len(got))
		}
	}
	// A new session (authority check, scope set) is served by itself.
	var c *pgx.Conn
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err, _ = faultConnect(st.Addr, st.Config.BackendDatabase(), "alice", "-c custodes.authority=W-DEMO-1", faultBound)
		if err == nil {
			if got, rerr, _ := faultRead(c, 102); rerr == nil && len(got) == 1 {
				break
			} else {
				err = fmt.Errorf("%q %v", got, rerr)
			}
			c.Close(ctx)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no service 5s after the control connections were cut: %v", err)
		}
	}
	defer c.Close(ctx)

	// The listener back (its last query is the schema version check), a
	// read cached, and then a suspension by another process — a direct
	// change to the control database, as another gateway or an operator's
	// tool makes it — must reach the cache through NOTIFY: well within
	// the cache's 5s lifetime.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND query LIKE '%custodes.migrations%'`, ctlRole).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the control state listener is not back 5s after the cut")
		}
	}
	other, err := pgx.Connect(ctx, st.Config.Control.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	change := func(what string, sql string, served bool) {
		t.Helper()
		servedBefore := !served
		if got, err, _ := faultRead(c, 103); (err == nil) != servedBefore || len(got) > 1 {
			t.Fatalf("before %s: %q %v", what, got, err)
		}
		if _, err := other.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		for {
			got, err, _ := faultRead(c, 103)
			var pe *pgconn.PgError
			switch {
			case served && err == nil && len(got) == 1:
				t.Logf("%s in force %v after it was made", what, time.Since(at).Round(time.Millisecond))
				return
			case !served && errors.As(err, &pe) && strings.Contains(pe.Message, "AUP-8"):
				if len(got) > 0 {
					t.Fatal("rows released with the AUP-8 denial")
				}
				t.Logf("%s in force %v after it was made", what, time.Since(at).Round(time.Millisecond))
				return
			}
			if time.Since(at) > time.Second {
				t.Fatalf("%s by another process, after the control connections were cut, is not in force after %v: %q %v", what, time.Since(at), got, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	change("a suspension", `INSERT INTO custodes.suspensions (tenant, unit, reason) VALUES ('agency', 'newark', 'fault test')`, false)
	change("its end", `DELETE FROM custodes.suspensions WHERE tenant = 'agency' AND unit = 'newark'`, true)

	t.Run("a scope that cannot be bound is a recorded denial", func(t *testing.T) {
		// The scope pool's connections, used within the last second (so
		// the pool hands one out without a ping), cut; a few times, as the
		// pool may also hold one it opened since.
		for attempt := range 5 {
			c, err, _ := faultConnect(st.Addr, st.Config.BackendDatabase(), "alice", "-c custodes.authority=W-DEMO-1", faultBound)
			if err != nil {
				t.Fatal(err)
			}
			c.Close(ctx)
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid, 2000) FROM pg_stat_activity WHERE usename = $1 AND datname = $2`, ctlRole, st.Config.BackendDatabase()); err != nil {
				t.Fatal(err)
			}
			c, err, took := faultConnect(st.Addr, st.Config.BackendDatabase(), "alice", "-c custodes.authority=W-DEMO-1", faultBound+2*time.Second)
			t.Logf("attempt %d, connecting with the scope's connections cut: %v after %v", attempt, err, took.Round(time.Millisecond))
			if err == nil {
				c.Close(ctx)
				continue
			}
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42501" {
				t.Fatalf("want a denial, got %v", err)
			}
			if !entryRE.MatchString(pe.Detail) {
				t.Fatalf("a denial that names no log entry: %q (%s)", pe.Message, pe.Detail)
			}
			return
		}
		t.Log("the scope pool never handed out a cut connection")
	})

	// The private records (sealed details, coverage) reach the control
	// database: none is left pending in the journal.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		m := faultMetrics(t, st.HTTP, st.Token)
		if m["custodes_log_sidecars_pending"] == 0 && m[`custodes_coverage_subjects{unit="newark"}`] >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the cut: sidecars pending %v, newark coverage %v (want 0 and at least 3)", m["custodes_log_sidecars_pending"], m[`custodes_coverage_subjects{unit="newark"}`])
		}
	}
}

// faultMetrics scrapes the console's /metrics with the operator token.
func faultMetrics(t *testing.T, addr, token string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

const logUnavailable = "the transparency log is unavailable, so nothing is served"

// wantLogUnavailable checks a denial for want of the log.
func wantLogUnavailable(t *testing.T, what string, got []string, err error, took time.Duration, rule string) {
	t.Helper()
	if len(got) > 0 {
		t.Errorf("%s: %d rows reached the client without a log", what, len(got))
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: want a denial, got %q, %v", what, got, err)
	}
	if pe.Code != "42501" || !strings.HasPrefix(pe.Message, "custodes: denied by "+rule) || !strings.HasPrefix(pe.Detail, logUnavailable) {
		t.Fatalf("%s: want 42501 by %s with detail %q, got %s %q (%s)", what, rule, logUnavailable, pe.Code, pe.Message, pe.Detail)
	}
	if took > faultBound {
		t.Errorf("%s: the denial took %v", what, took)
	}
}

// TestFaultLogFull puts the log on a small tmpfs and fills it: lawful
// statements are then denied (AUP-9, "the transparency log is unavailable,
// so nothing is served"), denials say the same, nothing is released, and
// the gateway keeps answering. Entries acknowledged before the failure are
// in the log when it is reopened (translog's TestStorageFull* show that in
// detail).
func TestFaultLogFull(t *testing.T) {
	logDir := tmpfs.Mount(t, "24m")
	st := teststack.Start(t, 200, func(c *config.Config) { c.Log.Dir = logDir })
	// Connected first: binding the authority is itself recorded, and
	// background entries (the storage sampler's first attestation) may fail
	// the log at any moment once the filesystem is full.
	c := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	filler := tmpfs.Fill(t, logDir)
	// Before the stack stops: a log without room cannot publish the
	// checkpoint its Close waits for.
	t.Cleanup(func() { os.Remove(filler) })

	// The journal has room zero-filled ahead, so the first statements may
	// still be recorded; the log fails at the first write that finds none
	// (Tessera's tiles, or the journal's own).
	served := 0
	var got []string
	var err error
	var took time.Duration
	for i := 0; ; i++ {
		got, err, took = faultRead(c, 101+i%3)
		if err != nil {
			break
		}
		if len(got) != 1 {
			t.Fatalf("statement %d: %q", i, got)
		}
		served++
		if i > 500 {
			t.Fatalf("%d statements served on a full log filesystem and none denied", i)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("%d statements served before the log failed; then: %v", served, err)
	wantLogUnavailable(t, "the first statement the log could not record", got, err, took, "AUP-9")
	for i := range 5 {
		got, err, took := faultRead(c, 101+i%3)
		wantLogUnavailable(t, fmt.Sprintf("statement %d after the failure", i), got, err, took, "AUP-9")
	}
	start := time.Now()
	wantLogUnavailable(t, "a denied statement", nil, simple(c, "COPY persons TO STDOUT"), time.Since(start), "AUP-7")

	// The gateway still answers: a new session is let in, and denied.
	c2 := connect(t, st, "bob", "")
	got, err, took = faultRead(c2, 101)
	wantLogUnavailable(t, "a new session's statement", got, err, took, "AUP")

	// Room again. Today the log stays failed (it cannot know what its
	// failed write left) and statements stay denied until custodes
	// restarts; either way no row goes out unrecorded.
	os.Remove(filler)
	got, err, took = faultRead(c, 102)
	if err == nil && len(got) == 1 {
		t.Log("once there is room again, statements are served")
	} else {
		wantLogUnavailable(t, "a statement once there is room again", got, err, took, "AUP-9")
		t.Log("once there is room again, statements are still denied: the log fails closed until custodes restarts")
	}

	t.Run("health says so", func(t *testing.T) {
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get("http://" + st.HTTP + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("/healthz: %s while the log is failed", resp.Status)
		}
	})
}

// The crash test's child: `custodes serve` in this test binary.
const serveChildEnv = "CUSTODES_FAULT_SERVE_CONFIG"

// TestFaultGatewayKill kills `custodes serve` with SIGKILL at a random
// moment while 8 clients run lawful and denied statements through it,
// twice, restarting it on the same config and log each time. Afterwards
// `custodes verify` passes, every statement whose rows a client received
// has an allowed entry, every denial a client was told of is the entry it
// named, and the unit's coverage is not lower than what clients received.
func TestFaultGatewayKill(t *testing.T) {
	if path := os.Getenv(serveChildEnv); path != "" {
		os.Exit(cli.Main([]string{"serve", "--config", path}, os.Stdout, os.Stderr))
	}
	st := teststack.Start(t, 200)

	// A second deployment of the same tenant, databases and keys, with its
	// own log and addresses, served by a child process.
	dir := t.TempDir()
	for _, name := range []string{"log.key", "log.pub", "operator.token"} {
		b, err := os.ReadFile(filepath.Join(st.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(st.Dir, "custodes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "custodes.yaml")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.HTTP = faultFreeAddr(t), faultFreeAddr(t)
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "log")
	db := cfg.BackendDatabase()

	var (
		mu       sync.Mutex
		served   int                 // statements whose rows a client received
		denials  = map[uint64]bool{} // entries clients were told of
		subjects = map[int]bool{}
		kills    int
	)
	namedRE := regexp.MustCompile(`^recorded as entry (\d+) of log `)
	load := func(stop <-chan struct{}) {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				c, err, _ := faultConnect(cfg.Listen, db, "alice", "-c custodes.authority=W-DEMO-1", 5*time.Second)
				if err != nil {
					return
				}
				defer c.Close(context.Background())
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if (w+i)%4 == 3 {
						_, err := c.Exec(context.Background(), "SELECT pg_read_file('/etc/hostname')")
						var pe *pgconn.PgError
						if errors.As(err, &pe) && pe.Code == "42501" {
							if m := namedRE.FindStringSubmatch(pe.Detail); m != nil {
								idx, _ := strconv.ParseUint(m[1], 10, 64)
								mu.Lock()
								denials[idx] = true
								mu.Unlock()
								continue
							}
						}
						return // the gateway is gone
					}
					subject := 101 + (w+i)%3
					got, err, _ := faultRead(c, subject)
					if len(got) > 0 {
						mu.Lock()
						served++
						subjects[subject] = true
						mu.Unlock()
					}
					if err != nil {
						return
					}
				}
			})
		}
		wg.Wait()
	}

	for round := range 2 {
		child := startServeChild(t, cfgPath, dir)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { load(stop); close(done) }()
		time.Sleep(500*time.Millisecond + rand.N(2*time.Second))
		child.kill()
		kills++
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			close(stop)
			t.Fatalf("round %d: clients still running 10s after the gateway was killed", round)
		}
		close(stop)
		mu.Lock()
		t.Logf("round %d: killed; so far %d statements served, %d denials named", round, served, len(denials))
		mu.Unlock()
	}

	// Restarted on the same log: it serves, and its coverage is not lower
	// than what clients received.
	child := startServeChild(t, cfgPath, dir)
	c, err, _ := faultConnect(cfg.Listen, db, "alice", "-c custodes.authority=W-DEMO-1", 10*time.Second)
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if got, err, _ := faultRead(c, 101); err != nil || len(got) != 1 {
		t.Fatalf("after the restart: %q %v", got, err)
	}
	served++
	c.Close(context.Background())
	m := faultMetrics(t, cfg.HTTP, strings.TrimSpace(readFile(t, filepath.Join(dir, "operator.token"))))
	if cov := m[`custodes_coverage_subjects{unit="newark"}`]; cov < float64(len(subjects)) {
		t.Errorf("after the restart, newark's coverage is %v subjects, but clients received rows of %d", cov, len(subjects))
	}
	child.stop(t)

	var out, errb bytes.Buffer
	if code := cli.Main([]string{"verify", "--log", logDir, "--key", filepath.Join(dir, "log.pub"), "-q"}, &out, &errb); code != 0 {
		t.Fatalf("custodes verify: exit %d\n%s%s", code, out.String(), errb.String())
	}
	t.Logf("custodes verify: %s", strings.TrimSpace(out.String()))
	es := faultLog(t, logDir, st.VKey, func(map[uint64]*record.Entry) error { return nil })
	if n := allowedWithRows(es); n < served {
		t.Errorf("%d allowed entries with rows, but clients received rows of %d statements", n, served)
	}
	for idx := range denials {
		e := es[idx]
		if e == nil || e.Kind != record.KindStatement || e.Decision != "deny" {
			t.Errorf("a client was told its denial is entry %d, which is %+v", idx, e)
		}
	}
	t.Logf("%d kills: %d statements served, %d allowed entries with rows; %d denials named, all in the log of %d entries", kills, served, allowedWithRows(es), len(denials), len(es))
	if served < 10 || len(denials) < 2 {
		t.Errorf("too little load to show anything: %d served, %d denials", served, len(denials))
	}
}

type serveChild struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

// startServeChild runs `custodes serve --config path` in a child process
// and waits until it is ready.
func startServeChild(t *testing.T, path, dir string) *serveChild {
	t.Helper()
	logPath := filepath.Join(dir, fmt.Sprintf("serve-%d.log", time.Now().UnixNano()))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultGatewayKill$")
	cmd.Env = append(os.Environ(), serveChildEnv+"="+path)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &serveChild{cmd: cmd, exited: make(chan struct{}), log: logPath}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "custodes: ready") {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { cmd.Wait(); logf.Close(); close(ch.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-ch.exited
	})
	select {
	case <-ready:
		return ch
	case <-ch.exited:
		t.Fatalf("custodes serve exited before it was ready:\n%s", tail(readFile(t, logPath)))
	case <-time.After(60 * time.Second):
		t.Fatalf("custodes serve not ready in 60s:\n%s", tail(readFile(t, logPath)))
	}
	return nil
}

func (c *serveChild) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop shuts the child down as an operator would (SIGTERM).
func (c *serveChild) stop(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(45 * time.Second):
		t.Fatalf("custodes serve did not stop within 45s of SIGTERM:\n%s", tail(readFile(t, c.log)))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}

func faultFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
