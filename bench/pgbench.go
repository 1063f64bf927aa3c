package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// script is the select-by-key transaction, the same through every target,
// over persons 101 to 100+subjects: the subjects W-DEMO-1 lists, so custodes
// allows every transaction. DESIGN.md's figure reads 101–103.
func script(subjects int) string {
	return fmt.Sprintf("\\set id random(101, %d)\nSELECT full_name FROM persons WHERE person_id = :id;\n", 100+subjects)
}

// target is one place pgbench connects to.
type target struct {
	name     string // direct, pgbouncer, custodes
	addr     string // host:port
	user     string
	password string
	options  string // PGOPTIONS
}

// pgbenchRun is the outcome of one pgbench run.
type pgbenchRun struct {
	tps       float64
	latencies []int32 // µs, one per transaction
}

var (
	tpsRE       = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	processedRE = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
	failedRE    = regexp.MustCompile(`number of failed transactions: (\d+)`)
)

// pgbench runs the script against t for d with per-transaction logs in
// dir, and reads them.
func pgbench(ctx context.Context, bin string, t target, mode string, clients, threads int, d time.Duration, dir, name, script string) (*pgbenchRun, error) {
	host, port, _ := net.SplitHostPort(t.addr)
	scriptPath := filepath.Join(dir, "select-by-key.sql")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		return nil, err
	}
	prefix := filepath.Join(dir, name)
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := []string{"-n", "-h", host, "-p", port, "-U", t.user, "-M", mode, "-f", scriptPath,
		"-c", fmt.Sprint(clients), "-j", fmt.Sprint(threads), "-T", fmt.Sprint(secs),
		"--log", "--log-prefix=" + prefix, agencyDB}
	// Bounded: pgbench stops itself after -T; this is the backstop.
	ctx, cancel := context.WithTimeout(ctx, d+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "PGPASSWORD="+t.password, "PGOPTIONS="+t.options, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pgbench -M %s against %s: %v\n%s", mode, t.name, err, tail(out, 20))
	}
	m := tpsRE.FindSubmatch(out)
	p := processedRE.FindSubmatch(out)
	if name == "warmup" {
		// A short warm-up may end before slow connections are up.
		cleanLogs(prefix)
		return &pgbenchRun{}, nil
	}
	if m == nil || p == nil {
		return nil, fmt.Errorf("pgbench -M %s against %s: no tps in its output:\n%s", mode, t.name, tail(out, 20))
	}
	if f := failedRE.FindSubmatch(out); f != nil && string(f[1]) != "0" {
		return nil, fmt.Errorf("pgbench -M %s against %s: %s failed transactions:\n%s", mode, t.name, f[1], tail(out, 20))
	}
	r := &pgbenchRun{}
	r.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	files, _ := filepath.Glob(prefix + ".*")
	for _, f := range files {
		if err := readLatencies(f, &r.latencies); err != nil {
			return nil, err
		}
	}
	cleanLogs(prefix)
	if n, _ := strconv.Atoi(string(p[1])); n != len(r.latencies) {
		return nil, fmt.Errorf("pgbench -M %s against %s: %d transactions but %d logged", mode, t.name, n, len(r.latencies))
	}
	return r, nil
}

func cleanLogs(prefix string) {
	files, _ := filepath.Glob(prefix + ".*")
	for _, f := range files {
		os.Remove(f)
	}
}

// readLatencies reads a pgbench transaction log: "client_id transaction_no
// time script_no time_epoch time_us", time being the latency in µs.
func readLatencies(path string, into *[]int32) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			return fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		us, err := strconv.ParseInt(fields[2], 10, 32)
		if err != nil {
			return fmt.Errorf("%s: bad latency in %q", path, sc.Text())
		}
		*into = append(*into, int32(us))
	}
	return sc.Err()
}

// percentile is the q-quantile of latencies (µs) in ms, by nearest rank.
func percentile(latencies []int32, q float64) float64 {
	if len(latencies) == 0 {
		return 0
	}
	s := slices.Clone(latencies)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i]) / 1000
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cleanEnv is our environment without libpq's variables, so that nothing
// of the caller's leaks into a run.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
