//go:build linux

package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/pgcluster"
	"github.com/custodes/custodes/pgtest"
	"github.com/custodes/custodes/record"
)

// loadBound is the longest any statement or connection attempt may take
// while the databases are being cut under it: longer is a hang.
const loadBound = 5 * time.Second

// TestFaultCrashUnderLoad repeats the backend and control database faults
// of TestFaultBackend and TestFaultControlDatabase under concurrent load
// (issue 7): 8 clients as alice under W-DEMO-1 read persons 101-103 over
// the simple and the extended protocol and run denied statements for about
// 6s, reconnecting whenever a session ends, while at seeded random moments
// every backend of the gateway's role on the agency database is terminated
// (twice, as a crash of the backend PostgreSQL does to them) and every
// connection of the control role, to the control database and the scope
// connections in the agency database, is terminated (twice, as a restart
// of the control database does). No statement may hang, no statement
// reported as an error may have released rows, every statement whose rows
// a client received has an allowed entry, every denial a client was told
// of is the deny entry it named, a new session is served afterwards, the
// log verifies, and every private record reached the control database.
func TestFaultCrashUnderLoad(t *testing.T) {
	st := teststack.Start(t, 200)
	ctx := context.Background()
	admin := st.Admin(t)
	gwRole := roleOf(t, st.Config.Backend.URL)
	ctlRole := roleOf(t, st.Config.Control.URL)
	db := st.Config.BackendDatabase()
	const runFor = 6 * time.Second
	faults := planFaults(t, runFor, 600*time.Millisecond, "backend", "backend", "control", "control")
	terminate := func(f fault, at time.Duration) {
		start := time.Now()
		fctx, cancel := context.WithTimeout(ctx, loadBound)
		defer cancel()
		// Signalled all at once, as a crash ends them (the wait of
		// pg_terminate_backend(pid, timeout) would space them ~100ms
		// apart), then waited for until they are gone.
		q := `SELECT coalesce(array_agg(pid), '{}') FROM (SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename = $2) k`
		args := []any{db, gwRole}
		if f.what == "control" {
			q = `SELECT coalesce(array_agg(pid), '{}') FROM (SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1) k`
			args = []any{ctlRole}
		}
		var pids []int32
		if err := admin.QueryRow(fctx, q, args...).Scan(&pids); err != nil {
			t.Errorf("terminating the %s connections: %v", f.what, err)
			return
		}
		for {
			var left int
			if err := admin.QueryRow(fctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&left); err != nil {
				t.Errorf("waiting for the %s connections to end: %v", f.what, err)
				return
			}
			if left == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		n := len(pids)
		t.Logf("at %v: terminated %d %s connections (gone after %v)", at.Round(time.Millisecond), n, f.what, time.Since(start).Round(time.Millisecond))
		if n == 0 {
			t.Errorf("no %s connections to terminate", f.what)
		}
	}
	underFaults(t, st, runFor, faults, terminate)
}

// A fault is one thing done to the deployment at a moment of the load.
type fault struct {
	at   time.Duration
	what string
}

// planFaults puts the faults whats at seeded random moments of a run of
// runFor, at least gap apart, none in its first 500ms or last second.
func planFaults(t *testing.T, runFor, gap time.Duration, whats ...string) []fault {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("CUSTODES_FAULT_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (set CUSTODES_FAULT_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var faults []fault
	for {
		faults = faults[:0]
		for _, what := range whats {
			faults = append(faults, fault{500*time.Millisecond + time.Duration(rng.Int64N(int64(runFor-1500*time.Millisecond))), what})
		}
		sort.Slice(faults, func(i, j int) bool { return faults[i].at < faults[j].at })
		ok := true
		for i := 1; i < len(faults); i++ {
			if faults[i].at-faults[i-1].at < gap {
				ok = false
			}
		}
		if ok {
			break
		}
	}
	for _, f := range faults {
		t.Logf("planned: %s at %v", f.what, f.at.Round(time.Millisecond))
	}
	return faults
}

// underFaults runs the load of TestFaultCrashUnderLoad against st for
// runFor, inflicting each fault at its moment, and then checks what
// TestFaultCrashUnderLoad promises.
func underFaults(t *testing.T, st *teststack.Stack, runFor time.Duration, faults []fault, inflict func(f fault, at time.Duration)) {
	ctx := context.Background()
	db := st.Config.BackendDatabase()
	var (
		mu         sync.Mutex
		statements int                 // statements run
		served     int                 // statements whose rows a client received
		succeeded  int                 // statements that succeeded
		denials    = map[uint64]bool{} // entries clients were told of
		unnamed    int                 // 42501 denials naming no entry
		failed     int                 // other errors (the session's end)
		sessions   int
		slowest    time.Duration
	)
	note := func(what string, took time.Duration) {
		if took > loadBound {
			t.Errorf("%s took %v, want under %v: a hang", what, took.Round(time.Millisecond), loadBound)
		}
		if took > slowest {
			slowest = took
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			var c *pgx.Conn
			defer func() {
				if c != nil {
					c.Close(context.Background())
				}
			}()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if c == nil || c.IsClosed() {
					if c != nil {
						c.Close(context.Background())
						c = nil
					}
					nc, err, took := faultConnect(st.Addr, db, "alice", "-c custodes.authority=W-DEMO-1", loadBound+5*time.Second)
					mu.Lock()
					note(fmt.Sprintf("client %d: connecting", w), took)
					mu.Unlock()
					if err != nil {
						t.Logf("client %d: connecting: %v after %v", w, err, took.Round(time.Millisecond))
						time.Sleep(50 * time.Millisecond)
						continue
					}
					c = nc
					mu.Lock()
					sessions++
					mu.Unlock()
				}
				mode := pgx.QueryExecModeCacheStatement
				if (w+i)%2 == 0 {
					mode = pgx.QueryExecModeSimpleProtocol
				}
				sctx, cancel := context.WithTimeout(context.Background(), loadBound+5*time.Second)
				start := time.Now()
				var got []string
				var err error
				denied := (w+i)%5 == 4
				var what string
				if denied {
					what = "a denied statement"
					_, err = c.Exec(sctx, "SELECT pg_read_file('/etc/hostname')", mode)
				} else {
					subject := 101 + (w+i)%3
					what = fmt.Sprintf("the read of %d", subject)
					var rows pgx.Rows
					rows, err = c.Query(sctx, faultQuery, mode, subject)
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
				}
				took := time.Since(start)
				cancel()

				mu.Lock()
				statements++
				note(fmt.Sprintf("client %d: %s (%v)", w, what, mode), took)
				if len(got) > 0 {
					served++
				}
				var pe *pgconn.PgError
				switch {
				case err == nil && denied:
					t.Errorf("client %d: %s succeeded", w, what)
				case err == nil:
					succeeded++
					if len(got) != 1 {
						t.Errorf("client %d: %s: %q", w, what, got)
					}
				case len(got) > 0:
					t.Errorf("client %d: %s released %d rows and then failed: %v", w, what, len(got), err)
				}
				switch {
				case err == nil:
				case errors.As(err, &pe) && pe.Code == "42501":
					if m := entryRE.FindStringSubmatch(pe.Detail); m != nil {
						idx, _ := strconv.ParseUint(m[1], 10, 64)
						denials[idx] = true
					} else {
						unnamed++
						t.Errorf("client %d: %s: a denial that names no entry: %q (%s)", w, what, pe.Message, pe.Detail)
					}
					if !denied {
						t.Logf("client %d: %s denied: %s (%s)", w, what, pe.Message, pe.Detail)
					}
				default:
					// The session's end (or a statement the fault hit):
					// start a new one.
					failed++
					t.Logf("client %d: %s: %v after %v", w, what, err, took.Round(time.Millisecond))
					c.Close(context.Background())
					c = nil
				}
				mu.Unlock()
			}
		})
	}

	begin := time.Now()
	for _, f := range faults {
		time.Sleep(time.Until(begin.Add(f.at)))
		inflict(f, time.Since(begin))
	}
	time.Sleep(time.Until(begin.Add(runFor)))
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * (loadBound + 5*time.Second)):
		t.Fatal("clients still running long after the load ended: a hang")
	}
	mu.Lock()
	t.Logf("load: %d sessions, %d statements: %d succeeded, %d with rows received, %d denials named, %d other errors; slowest %v",
		sessions, statements, succeeded, served, len(denials), failed, slowest.Round(time.Millisecond))
	mu.Unlock()
	if succeeded < 50 || len(denials) < 10 {
		t.Errorf("too little load to show anything: %d succeeded, %d denials", succeeded, len(denials))
	}

	// A new session is served, by itself.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err, _ := faultConnect(st.Addr, db, "alice", "-c custodes.authority=W-DEMO-1", faultBound)
		if err == nil {
			got, rerr, _ := faultRead(c, 102)
			c.Close(ctx)
			if rerr == nil && len(got) == 1 {
				served++
				break
			}
			err = fmt.Errorf("%q %v", got, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new session served 5s after the load: %v", err)
		}
	}

	// Everything served and denied is on the record, and the log verifies.
	es := faultLog(t, st.LogDir, st.VKey, func(es map[uint64]*record.Entry) error {
		if n := allowedWithRows(es); n < served {
			return fmt.Errorf("%d allowed statements with rows, but clients received rows of %d", n, served)
		}
		for idx := range denials {
			if e := es[idx]; e == nil || e.Kind != record.KindStatement || e.Decision != "deny" {
				return fmt.Errorf("a client was told its denial is entry %d, which is %+v", idx, e)
			}
		}
		return nil
	})

	// The private records all reached the control database: none pending
	// in the journal, and each entry's sealed detail in custodes.details.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		m := faultMetrics(t, st.HTTP, st.Token)
		if m["custodes_log_sidecars_pending"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the load: %v sidecars pending", m["custodes_log_sidecars_pending"])
		}
	}
	ctl, err := pgx.Connect(ctx, st.Config.Control.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close(ctx)
	rows, _ := ctl.Query(ctx, `SELECT commitment FROM custodes.details`)
	stored, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	have := map[[32]byte]bool{}
	for _, c := range stored {
		have[[32]byte(c)] = true
	}
	withDetail, missing := 0, 0
	for idx, e := range es {
		if e.Detail == ([32]byte{}) {
			continue
		}
		withDetail++
		if !have[e.Detail] {
			missing++
			if missing <= 5 {
				t.Errorf("entry %d's sealed detail is not in the control database", idx)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d entries with a sealed detail have none in the control database", missing, withDetail)
	}
	t.Logf("%d statements served, %d allowed entries with rows, %d denials named, all in the log of %d entries; %d sealed details, all in the control database",
		served, allowedWithRows(es), len(denials), len(es), withDetail)
}

// TestFaultPostgresCrashUnderLoad is TestFaultCrashUnderLoad with a real
// crash: the test's own PostgreSQL cluster, which holds both the agency
// database and the control database, is killed with SIGKILL (the
// postmaster; its backends end with it) twice under the load, and started
// again on the same data directory and port, recovering from its WAL as
// after a power cut. The same promises must hold.
func TestFaultPostgresCrashUnderLoad(t *testing.T) {
	c := pgtest.Private(t)
	crash := crasher(t, "the cluster", c)
	st := teststack.StartOn(t, c, 200)
	const runFor = 10 * time.Second
	faults := planFaults(t, runFor, 3*time.Second, "crash", "crash")
	underFaults(t, st, runFor, faults, func(f fault, at time.Duration) { crash(at) })
}

// TestFaultSplitCrashUnderLoad is TestFaultPostgresCrashUnderLoad with the
// control database on a server of its own (control.admin_url), as a
// deployment may have it: the agency's PostgreSQL and the control
// database's are each killed with SIGKILL twice, one at a time, under the
// load. The scope connections live on the agency's server, so a crash of
// the control database alone leaves them standing, and a crash of the
// agency's leaves the control database's. The same promises must hold.
func TestFaultSplitCrashUnderLoad(t *testing.T) {
	agency, ctl := pgtest.Private(t), pgtest.Private(t)
	crashAgency, crashControl := crasher(t, "the agency's", agency), crasher(t, "the control database's", ctl)
	st := teststack.StartSplit(t, agency, ctl, 200)
	if st.Config.Control.AdminURL == "" || st.Config.Control.URL == "" {
		t.Fatal("the stack's control database is not on its own cluster")
	}
	const runFor = 14 * time.Second
	faults := planFaults(t, runFor, 2500*time.Millisecond, "agency", "agency", "control", "control")
	underFaults(t, st, runFor, faults, func(f fault, at time.Duration) {
		if f.what == "agency" {
			crashAgency(at)
		} else {
			crashControl(at)
		}
	})
}

// crasher returns what kills c's (named name in the test's log) postmaster with SIGKILL, waits for it to
// be gone, and starts the cluster again on the same directory and port
// (the stack's URLs name it), as after a power cut. The cluster running at
// the end is stopped at cleanup.
func crasher(t *testing.T, name string, c *pgcluster.Cluster) func(at time.Duration) {
	var mu sync.Mutex
	current := c // the one running, after restarts
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		current.Stop()
	})
	opts := pgcluster.Options{Dir: c.Dir(), Port: c.Port()}
	return func(at time.Duration) {
		b, err := os.ReadFile(filepath.Join(opts.Dir, "postmaster.pid"))
		if err != nil {
			t.Errorf("couldn't read postmaster.pid: %v", err)
			return
		}
		line, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(line)
		if err != nil {
			t.Errorf("postmaster.pid: %q", line)
			return
		}
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Errorf("kill -9 %d: %v", pid, err)
			return
		}
		for syscall.Kill(pid, 0) == nil && time.Since(killed) < loadBound {
			time.Sleep(5 * time.Millisecond)
		}
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		nc, err := pgcluster.Start(sctx, opts)
		if err != nil {
			t.Errorf("couldn't start %s PostgreSQL again after the crash: %v", name, err)
			return
		}
		mu.Lock()
		current = nc
		mu.Unlock()
		t.Logf("at %v: killed %s PostgreSQL (postmaster %d); accepting connections again after %v", at.Round(time.Millisecond), name, pid, time.Since(killed).Round(time.Millisecond))
	}
}
