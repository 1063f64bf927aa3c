package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodes/custodes/internal/synthlog"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

// TestMillion builds a log of 1,000,000 entries (CUSTODES_BIG_N to change)
// through Tessera and measures Compute over it: time and heap. It takes
// minutes and a few hundred megabytes of disk, so it runs only on request:
//
//	CUSTODES_BIG=1 go test ./report -run TestMillion -v -timeout 60m
//
// CUSTODES_BIG_DIR=DIR keeps the log in DIR and reuses it on the next run.
func TestMillion(t *testing.T) {
	if os.Getenv("CUSTODES_BIG") == "" {
		t.Skip("set CUSTODES_BIG=1 to build and report on a 1,000,000-entry log")
	}
	n := uint64(1_000_000)
	if s := os.Getenv("CUSTODES_BIG_N"); s != "" {
		var err error
		if n, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	dir := os.Getenv("CUSTODES_BIG_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, fmt.Sprintf("log-%d", n))
	vkey := bigLog(t, dir, n)

	src, err := translog.OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base, ms runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak, peakLive uint64
	// HeapAlloc includes garbage not yet collected; the live heap is what
	// the last GC found reachable.
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var heapAt []string
	next := n / 10
	start := time.Now()
	r, err := Compute(context.Background(), src, vkey, Options{Progress: func(done, total uint64) {
		// ReadMemStats stops the world for microseconds; once per bundle
		// of 256 entries costs well under a second in all.
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		metrics.Read(live)
		peakLive = max(peakLive, live[0].Value.Uint64())
		if done >= next {
			heapAt = append(heapAt, fmt.Sprintf("%d%%: %.1f MB", done*100/total, mb(ms.HeapAlloc)))
			next += total / 10
		}
	}})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	t.Logf("Compute over %d entries: %v (%.0f entries/s), %d CPUs", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), runtime.NumCPU())
	t.Logf("heap before %.1f MB; peak (sampled per bundle) %.1f MB allocated, %.1f MB live; allocated in all %.0f MB; from the OS %.1f MB",
		mb(base.HeapAlloc), mb(peak), mb(peakLive), mb(ms.TotalAlloc-base.TotalAlloc), mb(ms.Sys))
	t.Logf("heap during Compute: %v", heapAt)
	t.Logf("report: %d statements (%d denied), %d coverage days, %d scopes", r.Statements.Total, r.Statements.Denied, len(r.Coverage.Days), len(r.Subjects))

	// The scope-subject pairs Compute had to remember, counted after the
	// measurement from the generator's own choices.
	var want uint64
	pairs := map[uint64]struct{}{}
	for i := range n {
		if synthlog.KindOf(i) != record.KindStatement {
			continue
		}
		want++
		if i%5 == 0 {
			continue
		}
		for j := range 1 + i%3 {
			person := synthlog.Mix(i<<2|j) % synthlog.Population
			pairs[person] = struct{}{}
			pairs[(1+i%synthlog.Units)<<32|person] = struct{}{}
		}
	}
	t.Logf("%d scope-subject pairs: %.0f bytes of live heap each", len(pairs), float64(peakLive-base.HeapAlloc)/float64(len(pairs)))
	if r.Statements.Total != want || r.Checkpoint.Size != n {
		t.Errorf("report counts %d statements of %d entries, want %d of %d", r.Statements.Total, r.Checkpoint.Size, want, n)
	}
	if elapsed > 60*time.Second {
		t.Errorf("Compute took %v, more than the 60 s target", elapsed)
	}
	// What may grow is bounded by the population (100,000 subjects in 9
	// scopes), not by the entries.
	if peak-base.HeapAlloc > 256<<20 {
		t.Errorf("Compute's heap grew by %.0f MB", mb(peak-base.HeapAlloc))
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// bigLog builds (or finds complete) an n-entry log in dir and returns its
// verifier key. Tessera's POSIX storage does one write-and-fsync round per
// batch, so what makes it fast is many concurrent appenders and large
// batches: 8192 appenders, batches of 4096.
func bigLog(t *testing.T, dir string, n uint64) string {
	t.Helper()
	keyFile := dir + ".pub"
	if b, err := os.ReadFile(keyFile); err == nil {
		t.Logf("reusing %s", dir)
		return string(b)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	skey, vkey, err := translog.GenerateKey("big.custodes/agency")
	if err != nil {
		t.Fatal(err)
	}
	l, err := translog.Open(ctx, translog.Options{Dir: dir, SignerKey: skey,
		BatchMaxSize: 4096, BatchMaxAge: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var next, failed atomic.Uint64
	var wg sync.WaitGroup
	for range 8192 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				b, err := synthlog.Entry(i, n).Marshal()
				if err == nil {
					_, err = l.Append(ctx, b)
				}
				if err != nil {
					if failed.Add(1) == 1 {
						t.Errorf("entry %d: %v", i, err)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	el := time.Since(start)
	t.Logf("appended %d entries in %v (%.0f entries/s)", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	if err := os.WriteFile(keyFile, []byte(vkey), 0o644); err != nil {
		t.Fatal(err)
	}
	return vkey
}
