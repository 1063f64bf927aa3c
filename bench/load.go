package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custodes/custodes/internal/deployment"
)

var modes = []string{"prepared", "simple"}

// runStack brings the deployment up, runs the pgbench rounds (and
// profiles, if asked) and measures the gateway's memory with open
// sessions, then takes it all down again.
func runStack(ctx context.Context, o *options, dir string, tl *tools, log *slog.Logger, t *table) error {
	// A fresh deployment every run: its log's key is new each time.
	dir = filepath.Join(dir, "run")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d, err := startDeployment(ctx, o, dir, log)
	if err != nil {
		return err
	}
	defer d.Close()
	cluster, cfg := d.Cluster, d.Config
	bin := o.custodes
	if bin == "" {
		if bin, err = deployment.Build(ctx, dir, "go run ./bench", progress); err != nil {
			return err
		}
	}
	if err := d.StartGateway(ctx, bin, deployment.GatewayOptions{Pprof: true}); err != nil {
		return err
	}

	if !o.skip["pgbench"] {
		b, err := startPgbouncer(ctx, tl.pgbouncer, cluster, dir, o.clients)
		if err != nil {
			return err
		}
		defer b.stop()
		user, pw := superuser(cluster)
		dbAddr := net.JoinHostPort(cluster.Host(), fmt.Sprint(cluster.Port()))
		gwUser, gwPassword, err := gatewayRole(cfg.Backend.URL)
		if err != nil {
			return err
		}
		c, err := startCeiling(dbAddr, filepath.Join(dir, "ceiling.journal"), log)
		if err != nil {
			return err
		}
		defer c.stop()
		targets := []target{
			{name: "direct", addr: dbAddr, user: user, password: pw},
			{name: "pgbouncer", addr: b.addr, user: user, password: pw},
			{name: "custodes", addr: cfg.Listen, user: analyst, password: analyst, options: "-c custodes.authority=" + authorityID},
			// The same bare relay, as the superuser (the durable wait alone)
			// and as the gateway's role (with its row-level security).
			{name: "durable", addr: c.addr, user: user, password: pw},
			{name: "ceiling", addr: c.addr, user: gwUser, password: gwPassword},
		}
		if err := rounds(ctx, o, tl, targets, dir, d, c, t); err != nil {
			return err
		}
		if o.profile != "" {
			if err := profile(ctx, o, tl, targets[2], dir, d, bin); err != nil {
				return err
			}
		}
	}
	if !o.skip["rss"] {
		if err := memory(ctx, o, d, t); err != nil {
			return err
		}
	}
	return nil
}

// rounds runs pgbench against each target alternately: per round, both
// modes, the targets in an order rotated by the round, so that none is
// always first after an idle moment.
func rounds(ctx context.Context, o *options, tl *tools, targets []target, dir string, d *deployment.Deployment, c *ceiling, t *table) error {
	type key struct{ target, mode string }
	tps := map[key][]float64{}
	lat := map[key][]int32{}
	var steal []float64 // percent, per round
	if o.warmup > 0 {
		say("bench: warm-up, %v per target and mode", o.warmup)
		for _, tg := range targets {
			for _, mode := range modes {
				if _, err := pgbench(ctx, tl.pgbench, tg, mode, o.clients, o.threads, o.warmup, dir, "warmup", script(o.subjects)); err != nil {
					return err
				}
			}
		}
	}
	for r := range o.rounds {
		for _, mode := range modes {
			for i := range targets {
				tg := targets[(i+r)%len(targets)]
				if err := ctx.Err(); err != nil {
					return err
				}
				cpu0, ticks0 := cpuTime(d.GatewayPid()), readCPUTicks()
				js0, _ := readJournalStats(ctx, d)
				cs0, cr0 := c.stats()
				res, err := pgbench(ctx, tl.pgbench, tg, mode, o.clients, o.threads, o.duration, dir, fmt.Sprintf("%s-%s-%d", tg.name, mode, r), script(o.subjects))
				if err != nil {
					return err
				}
				gw := ""
				ticks := readCPUTicks()
				if st := ticks.stealSince(ticks0); st >= 0 {
					gw = fmt.Sprintf("  steal %2.0f%%  idle %2.0f%%", st, ticks.idleSince(ticks0))
					steal = append(steal, st)
				}
				if tg.name == "custodes" && len(res.latencies) > 0 {
					// The gateway's own CPU per transaction: what it costs
					// when it is not waiting.
					gw += fmt.Sprintf("  gateway CPU %.0f µs/transaction", (cpuTime(d.GatewayPid())-cpu0).Seconds()*1e6/float64(len(res.latencies)))
					if js, err := readJournalStats(ctx, d); err == nil {
						gw += js.since(js0)
					}
				}
				if tg.addr == c.addr {
					if cs, cr := c.stats(); cs > cs0 {
						gw += fmt.Sprintf("  journal: %d fdatasyncs, %.1f records each", cs-cs0, float64(cr-cr0)/float64(cs-cs0))
					}
				}
				k := key{tg.name, mode}
				tps[k] = append(tps[k], res.tps)
				lat[k] = append(lat[k], res.latencies...)
				say("  round %d  -M %-8s %-9s %8.0f tps  p99 %6.2f ms  (%d transactions)%s", r+1, mode, tg.name, res.tps, percentile(res.latencies, 0.99), len(res.latencies), gw)
			}
		}
	}
	select {
	case <-d.Exited():
		return fmt.Errorf("custodes serve exited during the load")
	default:
	}
	if len(steal) > 0 {
		say("bench: CPU steal during the rounds (the hypervisor running others on this VM's CPUs): median %.0f%%, highest %.0f%%", median(steal), slices.Max(steal))
	}
	for _, mode := range modes {
		direct, bouncer, ours, ceil := tps[key{"direct", mode}], tps[key{"pgbouncer", mode}], tps[key{"custodes", mode}], tps[key{"ceiling", mode}]
		ratio := median(ours) / median(bouncer)
		t.add(row{
			figure:   fmt.Sprintf("pgbench select-by-key -M %s, %d clients, tps (median of %d × %v)", mode, o.clients, o.rounds, o.duration),
			baseline: fmt.Sprintf("PgBouncer %s (direct %s)", count(median(bouncer)), count(median(direct))),
			ours:     count(median(ours)),
			ratio:    fmt.Sprintf("%.2f× PgBouncer, %.2f× ceiling", ratio, median(ours)/median(ceil)),
			required: "≥ 0.5×", goal: "≥ 1.0×",
			metReq: ratio >= 0.5, metGoal: ratio >= 1.0,
		})
	}
	for _, mode := range modes {
		bouncer, ceil := median(tps[key{"pgbouncer", mode}]), median(tps[key{"ceiling", mode}])
		if ceil < 0.5*bouncer {
			say("bench: -M %s: the ceiling, %.0f tps, is %.2f× PgBouncer: below the required 0.5×, which no implementation of the design can reach on this machine", mode, ceil, ceil/bouncer)
		}
	}
	for _, mode := range modes {
		bouncer := tps[key{"pgbouncer", mode}]
		for _, relay := range []struct{ name, figure string }{
			{"durable", "bare relay as the superuser, each reply waiting for a durable record; no custodes work"},
			{"ceiling", "ceiling: the same relay as the gateway's role, under its row-level security"},
		} {
			ceil := tps[key{relay.name, mode}]
			t.add(row{
				figure:   fmt.Sprintf("%s, -M %s", relay.figure, mode),
				baseline: fmt.Sprintf("PgBouncer %s", count(median(bouncer))),
				ours:     fmt.Sprintf("%s tps, p99 %.2f ms", count(median(ceil)), percentile(lat[key{relay.name, mode}], 0.99)),
				ratio:    fmt.Sprintf("%.2f× PgBouncer", median(ceil)/median(bouncer)),
				info:     true,
			})
		}
	}
	for _, mode := range modes {
		direct := percentile(lat[key{"direct", mode}], 0.99)
		bouncer := percentile(lat[key{"pgbouncer", mode}], 0.99)
		ours := percentile(lat[key{"custodes", mode}], 0.99)
		added := ours - direct
		t.add(row{
			figure:   fmt.Sprintf("p99 latency added vs direct, -M %s, %d clients (all rounds' transactions)", mode, o.clients),
			baseline: fmt.Sprintf("direct %.2f ms (PgBouncer %.2f ms, %+.2f)", direct, bouncer, bouncer-direct),
			ours:     fmt.Sprintf("%.2f ms, %+.2f ms", ours, added),
			ratio:    fmt.Sprintf("%.1f× direct", ours/direct),
			required: "≤ +5 ms", goal: "≤ +2 ms",
			metReq: added <= 5, metGoal: added <= 2,
		})
	}
	return nil
}

// profile takes a CPU profile of the gateway under each mode's load
// through its CUSTODES_PPROF listener, and the top of each with go tool
// pprof.
func profile(ctx context.Context, o *options, tl *tools, custodes target, dir string, d *deployment.Deployment, bin string) error {
	if err := os.MkdirAll(o.profile, 0o755); err != nil {
		return err
	}
	secs := max(1, int(o.duration.Seconds())-2)
	for _, mode := range modes {
		file := filepath.Join(o.profile, "cpu-"+mode+".pprof")
		say("bench: CPU profile of custodes under -M %s load, %d s, into %s", mode, secs, file)
		var wg sync.WaitGroup
		var perr error
		wg.Go(func() {
			time.Sleep(time.Second) // let the clients connect first
			perr = fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", d.PprofAddr(), secs), file)
		})
		// What the gateway's backends wait for in PostgreSQL.
		var waits map[string]int
		var samples int
		wg.Go(func() {
			time.Sleep(time.Second)
			waits, samples = sampleWaits(ctx, d, time.Duration(secs)*time.Second)
		})
		// Where the sessions wait, mid-run: the CPU profile shows only
		// what runs.
		wg.Go(func() {
			time.Sleep(o.duration / 2)
			fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", d.PprofAddr()), filepath.Join(o.profile, "goroutines-"+mode+".txt"))
		})
		res, err := pgbench(ctx, tl.pgbench, custodes, mode, o.clients, o.threads, o.duration, dir, "profile", script(o.subjects))
		wg.Wait()
		if err != nil {
			return err
		}
		say("  %.0f tps while profiled (%d transactions)", res.tps, len(res.latencies))
		printWaits(filepath.Join(o.profile, "waits-"+mode+".txt"), waits, samples)
		if perr != nil {
			return perr
		}
		if err := fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/allocs", d.PprofAddr()), filepath.Join(o.profile, "allocs-after-"+mode+".pprof")); err != nil {
			return err
		}
		top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=40", bin, file).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof: %v\n%s", err, top)
		}
		os.WriteFile(strings.TrimSuffix(file, ".pprof")+"-top.txt", top, 0o644)
		cum, _ := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=60", bin, file).CombinedOutput()
		os.WriteFile(strings.TrimSuffix(file, ".pprof")+"-cum.txt", cum, 0o644)
	}
	// Keep the binary beside its profiles: pprof needs it for symbols.
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.profile, "custodes"), b, 0o755)
}

func fetch(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("couldn't fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("couldn't fetch %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// memory opens o.sessions analyst sessions through the gateway, each with
// the authority bound and one statement run, and reads the gateway
// process's resident memory with them open.
func memory(ctx context.Context, o *options, d *deployment.Deployment, t *table) error {
	pid := d.GatewayPid()
	after := ""
	if !o.skip["pgbench"] {
		after = ", after the load"
	}
	before, _, err := rss(pid)
	if err != nil {
		return err
	}
	say("bench: gateway RSS %.1f MB; opening %d sessions", mib(before), o.sessions)
	cfg, err := pgx.ParseConfig(d.AnalystURL(analyst))
	if err != nil {
		return err
	}
	cfg.RuntimeParams["options"] = "-c custodes.authority=" + authorityID
	var conns []*pgx.Conn
	defer func() {
		for _, c := range conns {
			c.Close(context.Background())
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for i := range o.sessions {
		c, err := pgx.ConnectConfig(cctx, cfg)
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		conns = append(conns, c)
		var name string
		if err := c.QueryRow(cctx, "SELECT full_name FROM persons WHERE person_id = $1", 101+i%3).Scan(&name); err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
	}
	time.Sleep(time.Second)
	with, peak, err := rss(pid)
	if err != nil {
		return err
	}
	say("  with %d sessions: RSS %.1f MB (peak over the whole run %.1f MB)", o.sessions, mib(with), mib(peak))
	t.add(row{
		figure:   fmt.Sprintf("gateway RSS, %d open sessions (custodes serve%s)", o.sessions, after),
		baseline: fmt.Sprintf("no sessions %.0f MB", mib(before)),
		ours:     fmt.Sprintf("%.0f MB (peak under load %.0f MB)", mib(with), mib(peak)),
		required: "≤ 200 MB", goal: "≤ 100 MB",
		metReq: with <= 200<<20, metGoal: with <= 100<<20,
	})
	return nil
}

// cpuTime is the user and system CPU a process has used, from
// /proc/PID/stat (clock ticks of 1/100 s, Linux's USER_HZ); 0 if unknown.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it are plain.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// rss reads a process's resident set size and its peak (VmRSS, VmHWM).
func rss(pid int) (cur, peak uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("couldn't read the gateway's memory: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = n << 10
		case "VmHWM:":
			peak = n << 10
		}
	}
	if cur == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return cur, peak, nil
}
