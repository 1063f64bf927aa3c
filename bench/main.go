// Command bench measures custodes against the figures of DESIGN.md's
// "Performance targets", side by side with its baselines, in one run on one
// machine, and prints one table:
//
//	go run ./bench                      # about 6 minutes with the defaults
//	go run ./bench -rounds 5 -duration 20s -log-entries 1000000
//
// It starts its own private PostgreSQL (package pgcluster) under a fresh
// directory in /tmp, loads the demo data, sets custodes up the way the
// integration tests do, with authority W-DEMO-1 for the load and no coverage
// caps, and runs the gateway as a child process (`custodes serve`, built
// with go build), so that its memory and profiles are its own. Then:
//
//   - pgbench, select by primary key through direct PostgreSQL, PgBouncer
//     (session pooling) and custodes, alternately, several rounds each of
//     -M prepared and -M simple: throughput, and p99 latency from
//     pgbench's per-transaction logs;
//   - in the same rounds, the ceiling (ceiling.go): a bare relay in this
//     process that does nothing but what the design fixes for every
//     statement — wait for a durable record before each reply, and run
//     the statement as the gateway's role under its row-level security —
//     once as the superuser ("durable", the wait alone) and once as the
//     gateway's role ("ceiling"), so that the table shows what the design
//     costs on this machine before custodes does any work;
//   - the gateway's RSS with 100 open sessions;
//   - durable appends/s of translog.Log against Tessera's POSIX storage
//     alone, with 16 and 64 concurrent appenders;
//   - `custodes verify --entries` (translog.Verify with record.Parse) and
//     report.Compute over a generated log, timed, with their live heap.
//
// It installs nothing: pgbench must sit beside the PostgreSQL server
// binaries and pgbouncer (Debian's package pgbouncer) on PATH or in
// /usr/sbin; what is missing is named with the command that installs it.
// Every connection is to 127.0.0.1, every phase bounded in time.
//
// pgbench and PgBouncer reach the database directly as the cluster's
// superuser (postgres), which bypasses row-level security like any
// superuser; custodes is reached as the demo analyst alice under W-DEMO-1.
// All of them run the same statement.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/custodes/custodes/internal/deployment"
)

type options struct {
	dir            string
	keep           bool
	persons        int
	duration       time.Duration
	warmup         time.Duration
	rounds         int
	clients        int
	threads        int
	appendDuration time.Duration
	logEntries     uint64
	sessions       int
	subjects       int
	profile        string
	custodes       string
	skip           map[string]bool
	verbose        bool
}

func main() {
	var o options
	var skip string
	flag.StringVar(&o.dir, "dir", "", "working `directory` (default: a new one under /tmp, removed afterwards)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (its generated log is reused by the next run with the same -dir)")
	flag.IntVar(&o.persons, "persons", 10000, "demo persons to load")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of one pgbench run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured pgbench run against each target first")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of direct / PgBouncer / custodes, each in both modes")
	flag.IntVar(&o.clients, "clients", 16, "pgbench clients")
	flag.IntVar(&o.threads, "threads", 2, "pgbench threads (-j)")
	flag.DurationVar(&o.appendDuration, "append-duration", 10*time.Second, "length of one append-throughput run")
	flag.Uint64Var(&o.logEntries, "log-entries", 100000, "entries of the generated log for verify and report (DESIGN.md's figure is for 1000000)")
	flag.IntVar(&o.sessions, "sessions", 100, "open sessions for the gateway RSS figure")
	flag.IntVar(&o.subjects, "subjects", 3, "distinct subjects the load reads, persons 101 to 100+N, all listed by W-DEMO-1 (DESIGN.md's figure: 3)")
	flag.StringVar(&o.profile, "profile", "", "after the rounds, take CPU profiles of custodes under pgbench load into `DIR` (cpu-prepared.pprof, cpu-simple.pprof)")
	flag.StringVar(&o.custodes, "custodes", "", "custodes `binary` to run (default: go build ./cmd/custodes)")
	flag.StringVar(&skip, "skip", "", "comma-separated phases to leave out: pgbench, rss, append, verify")
	flag.BoolVar(&o.verbose, "v", false, "log progress of PostgreSQL and custodes set-up")
	flag.Parse()
	o.skip = map[string]bool{}
	for _, s := range strings.Split(skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	if o.rounds < 1 || o.clients < 1 || o.threads < 1 || o.sessions < 1 || o.logEntries < 1 || o.subjects < 1 {
		fmt.Fprintln(os.Stderr, "bench: -rounds, -clients, -threads, -sessions, -subjects and -log-entries must be at least 1")
		os.Exit(2)
	}
	if o.subjects > o.persons-100 {
		fmt.Fprintln(os.Stderr, "bench: -subjects must leave room in -persons (persons 101 to 100+subjects)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o *options) error {
	start := time.Now()
	log := deployment.Logger(o.verbose)

	var tools *tools
	if !o.skip["pgbench"] {
		var err error
		if tools, err = findTools(); err != nil {
			return err
		}
	}
	dir, cleanup, err := workDir(o)
	if err != nil {
		return err
	}
	defer cleanup()
	say("bench: working in %s", dir)

	var t table
	if !o.skip["pgbench"] || !o.skip["rss"] {
		if err := runStack(ctx, o, dir, tools, log, &t); err != nil {
			return err
		}
	}
	if !o.skip["append"] {
		if err := runAppends(ctx, o, dir, &t); err != nil {
			return err
		}
	}
	if !o.skip["verify"] {
		if err := runVerify(ctx, o, dir, &t); err != nil {
			return err
		}
	}
	fmt.Println()
	fmt.Printf("custodes bench, %s, %d CPUs, %s; wall time %v\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), loadAvg(), time.Since(start).Round(time.Second))
	t.print(os.Stdout)
	return nil
}

// workDir returns the working directory and what removes it. PostgreSQL
// runs as the user postgres when we are root, so the directory must be
// traversable by it.
func workDir(o *options) (string, func(), error) {
	if o.dir != "" {
		dir, err := filepath.Abs(o.dir)
		if err != nil {
			return "", nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("couldn't create %s: %w", dir, err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return "", nil, err
		}
		return dir, func() {
			if !o.keep {
				os.RemoveAll(filepath.Join(dir, "run"))
			}
		}, nil
	}
	dir, err := os.MkdirTemp("/tmp", "custodes-bench-")
	if err != nil {
		return "", nil, fmt.Errorf("couldn't create a working directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", nil, err
	}
	return dir, func() {
		if o.keep {
			say("bench: kept %s", dir)
			return
		}
		os.RemoveAll(dir)
	}, nil
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load unknown"
	}
	return "load average " + strings.Join(f[:3], " ")
}
