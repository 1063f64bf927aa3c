// Command soak runs custodes for a while at mixed load and checks that it
// held up (issue 7, "Soak"):
//
//	go run ./scripts/soak                  # 10 minutes of load
//	go run ./scripts/soak -duration 2m
//
// It starts its own private PostgreSQL (package pgcluster) under a fresh
// directory in /tmp, loads the demo data, sets custodes up with the demo's
// analysts and the authorities W-DEMO-1, L-DEMO-2 and W-DEMO-3, and runs the
// gateway as a child process (`custodes serve`, built with go build). Then,
// for -duration, on loopback only:
//
//   - lawful statements: alice under W-DEMO-1 reading persons 101 to 103,
//     on long-lived sessions and on sessions opened and closed again;
//   - denied ones: bob with no authority (AUP-1), alice's COPY persons TO
//     STDOUT (AUP-7);
//   - bulk-stopped ones: alice under L-DEMO-2 (5 subjects at most)
//     selecting every person (AUP-3);
//   - suspended ones: every -cycle, unit houston is suspended with
//     `custodes suspend` for a while and resumed with `custodes resume`,
//     while carol reads her warrant's subject 2001 (AUP-8 while suspended);
//
// counting every outcome each client saw, and sampling the gateway's RSS,
// heap and goroutines from its /metrics every -sample. Afterwards it checks
// that memory was flat (the last quarter's mean RSS within 20% of the
// second quarter's), that the goroutines settled back to where they were
// before the load, that `custodes verify` passes, and that the report
// computed from the log (package report) counts exactly the statements,
// allowed and denied, by rule and by unit, and the suspensions the load
// generator did. It prints a table and exits 1 if any check failed.
//
// Every phase is bounded in time; the whole run takes -duration plus a few
// minutes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/custodes/custodes/internal/deployment"
)

type options struct {
	dir      string
	keep     bool
	duration time.Duration
	persons  int
	sample   time.Duration
	cycle    time.Duration
	suspend  time.Duration
	custodes string
	verbose  bool
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "", "working `directory` (default: a new one under /tmp, removed afterwards unless -keep or a check failed)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to run the load")
	flag.IntVar(&o.persons, "persons", 2500, "demo persons to load (at least 2001: carol's warrant names person 2001)")
	flag.DurationVar(&o.sample, "sample", 5*time.Second, "how often to sample the gateway's memory and goroutines")
	flag.DurationVar(&o.cycle, "cycle", 0, "how often to suspend unit houston (default: a sixth of -duration, between 20s and 2m)")
	flag.DurationVar(&o.suspend, "suspended-for", 0, "how long each suspension lasts (default: a quarter of -cycle)")
	flag.StringVar(&o.custodes, "custodes", "", "custodes `binary` to run (default: go build ./cmd/custodes)")
	flag.BoolVar(&o.verbose, "v", false, "log what PostgreSQL and custodes set-up do")
	flag.Parse()
	if o.duration < 10*time.Second || o.sample <= 0 || o.persons < 2001 {
		fmt.Fprintln(os.Stderr, "soak: -duration must be at least 10s, -sample positive and -persons at least 2001")
		os.Exit(2)
	}
	if o.cycle == 0 {
		o.cycle = min(max(o.duration/6, 20*time.Second), 2*time.Minute)
	}
	if o.suspend == 0 {
		o.suspend = o.cycle / 4
	}
	if o.suspend >= o.cycle {
		fmt.Fprintln(os.Stderr, "soak: -suspended-for must be shorter than -cycle")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, &o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// run sets everything up, runs the load, checks, prints the table, and
// reports whether every check passed.
func run(ctx context.Context, o *options) (bool, error) {
	start := time.Now()
	log := deployment.Logger(o.verbose)

	dir, keep, err := workDir(o)
	if err != nil {
		return false, err
	}
	passed := false
	defer func() {
		if keep || !passed {
			say("soak: kept %s", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	say("soak: working in %s", dir)

	d, err := deploy(ctx, o, dir, log)
	if d != nil {
		defer func() {
			if err := d.Close(); err != nil {
				say("soak: %v", err)
			}
		}()
	}
	if err != nil {
		return false, err
	}

	var checks checklist
	smp := newSampler(d)
	// The gateway at rest before any load: what goroutines settle back to.
	time.Sleep(3 * time.Second)
	rest, err := smp.scrape(ctx)
	if err != nil {
		return false, err
	}
	say("soak: gateway at rest: %s", rest)

	say("soak: load for %v (suspending houston every %v for %v)", o.duration, o.cycle, o.suspend)
	loadCtx, cancel := context.WithTimeout(ctx, o.duration)
	sampled := make(chan struct{})
	go func() { smp.run(loadCtx, o.sample); close(sampled) }()
	t := runLoad(loadCtx, o, d)
	cancel()
	<-sampled
	if ctx.Err() != nil {
		return false, ctx.Err()
	}

	// The load's own expectations.
	t.check(&checks)
	// Memory and goroutines.
	smp.checkFlat(&checks)
	after := settle(ctx, smp, rest)
	checks.add("sessions closed after the load", after.sessions == 0, fmt.Sprintf("%v open", after.sessions))
	checks.add("goroutines settle back", after.goroutines <= rest.goroutines+10,
		fmt.Sprintf("%v at rest before, %v after (max %v under load)", rest.goroutines, after.goroutines, smp.maxGoroutines()))

	say("soak: stopping custodes serve")
	if err := d.StopGateway(); err != nil {
		checks.add("custodes serve stops on SIGTERM", false, err.Error())
	} else {
		checks.add("custodes serve stops on SIGTERM", true, "")
	}
	verifyOut, verr := verify(ctx, d)
	checks.add("custodes verify", verr == nil, verifyOut)
	rep, err := computeReport(ctx, d)
	if err != nil {
		checks.add("report computed", false, err.Error())
	} else {
		compareReport(&checks, t, rep)
	}

	fmt.Println()
	fmt.Printf("custodes soak, %s, %d CPUs, load %v, wall time %v\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), o.duration, time.Since(start).Round(time.Second))
	fmt.Println()
	t.print(os.Stdout)
	fmt.Println()
	smp.print(os.Stdout)
	fmt.Println()
	checks.print(os.Stdout)
	passed = checks.ok()
	if !passed {
		fmt.Printf("\nsoak: FAIL (the gateway's log is %s)\n", filepath.Join(dir, "custodes.log"))
	} else {
		fmt.Println("\nsoak: PASS")
	}
	return passed, nil
}

// settle waits, at most 30s, for the sessions to close and the goroutines
// to come back to what they were at rest, and returns the last sample.
func settle(ctx context.Context, smp *sampler, rest sample) sample {
	var last sample
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		s, err := smp.scrape(ctx)
		if err == nil {
			last = s
			if s.sessions == 0 && s.goroutines <= rest.goroutines+10 {
				return s
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return last
		}
	}
}

// workDir returns the working directory and whether to keep it. PostgreSQL
// runs as the user postgres when we are root, so it must be traversable.
func workDir(o *options) (string, bool, error) {
	if o.dir != "" {
		dir, err := filepath.Abs(o.dir)
		if err != nil {
			return "", false, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", false, err
		}
		return dir, true, os.Chmod(dir, 0o755)
	}
	dir, err := os.MkdirTemp("/tmp", "custodes-soak-")
	if err != nil {
		return "", false, err
	}
	return dir, o.keep, os.Chmod(dir, 0o755)
}

// checklist is the checks' outcomes, in order.
type checklist struct{ rows [][3]string }

func (c *checklist) add(name string, ok bool, detail string) {
	verdict := "ok"
	if !ok {
		verdict = "FAIL"
	}
	c.rows = append(c.rows, [3]string{verdict, name, strings.TrimSpace(detail)})
}

func (c *checklist) ok() bool {
	for _, r := range c.rows {
		if r[0] != "ok" {
			return false
		}
	}
	return len(c.rows) > 0
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// print writes the checks.
func (c *checklist) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "check\tresult\tdetail")
	for _, r := range c.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r[1], r[0], r[2])
	}
	tw.Flush()
}
