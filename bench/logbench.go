package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/internal/synthlog"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/report"
	"github.com/custodes/custodes/translog"
)

// The options translog.Log uses by default, given to Tessera alone too, so
// that the baseline differs only by what Log puts in front of Tessera.
const (
	checkpointInterval = time.Second
	batchMaxSize       = 4096
	batchMaxAge        = 50 * time.Millisecond
)

// appendResult is one sustained-append run.
type appendResult struct {
	rate       float64 // durable appends per second
	p99        float64 // ms, one append's latency
	first, end float64 // appends per second in the first and the last fifth of the run
}

// runAppends measures durable appends by 16 and 64 concurrent appenders
// for o.appendDuration each, through translog.Log (journal, group commit,
// Tessera behind it) and through Tessera's POSIX storage alone.
func runAppends(ctx context.Context, o *options, dir string, t *table) error {
	entry, err := statementEntry(0).Marshal()
	if err != nil {
		return err
	}
	base := filepath.Join(dir, "appends")
	defer os.RemoveAll(base)
	for _, workers := range []int{16, 64} {
		say("bench: durable appends, %d appenders, %v each: translog.Log, then Tessera POSIX alone", workers, o.appendDuration)
		figure := fmt.Sprintf("durable log appends/s, %d appenders, %v", workers, o.appendDuration)
		ours, err := appendLog(ctx, filepath.Join(base, fmt.Sprintf("log-%d", workers)), workers, o.appendDuration, entry)
		if err != nil {
			// A log that fails closed under load is a finding, not a
			// reason to lose the rest of the table.
			say("  translog.Log FAILED: %v", err)
			t.add(row{figure: figure, ours: "FAILED: " + err.Error(), required: "≥ 10,000/s", goal: "≥ 20,000/s"})
			continue
		}
		peer, err := appendTessera(ctx, filepath.Join(base, fmt.Sprintf("tessera-%d", workers)), workers, o.appendDuration, entry)
		if err != nil {
			return err
		}
		say("  translog.Log %.0f/s (p99 %.2f ms; first fifth %.0f/s, last fifth %.0f/s)   Tessera alone %.0f/s (p99 %.2f ms; %.0f/s, %.0f/s)",
			ours.rate, ours.p99, ours.first, ours.end, peer.rate, peer.p99, peer.first, peer.end)
		t.add(row{
			figure:   figure,
			baseline: fmt.Sprintf("Tessera POSIX %s/s", count(peer.rate)),
			ours:     fmt.Sprintf("%s/s (p99 %.1f ms)", count(ours.rate), ours.p99),
			ratio:    fmt.Sprintf("%.1f×", ours.rate/peer.rate),
			required: "≥ 10,000/s", goal: "≥ 20,000/s",
			metReq: ours.rate >= 10000, metGoal: ours.rate >= 20000,
		})
	}
	return nil
}

func appendLog(ctx context.Context, dir string, workers int, d time.Duration, entry []byte) (*appendResult, error) {
	skey, _, err := translog.GenerateKey("append.bench/log")
	if err != nil {
		return nil, err
	}
	l, err := translog.Open(ctx, translog.Options{Dir: dir, SignerKey: skey})
	if err != nil {
		return nil, err
	}
	r, err := sustain(ctx, workers, d, func() error {
		_, err := l.Append(ctx, entry)
		return err
	})
	if cerr := l.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("couldn't close the log: %w", cerr)
	}
	return r, err
}

func appendTessera(ctx context.Context, dir string, workers int, d time.Duration, entry []byte) (*appendResult, error) {
	skey, _, err := translog.GenerateKey("append.bench/tessera")
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return nil, err
	}
	a, shutdown, _, err := tessera.NewAppender(ctx, driver, tessera.NewAppendOptions().
		WithCheckpointSigner(signer).WithCheckpointInterval(checkpointInterval).
		WithBatching(batchMaxSize, batchMaxAge))
	if err != nil {
		return nil, err
	}
	r, err := sustain(ctx, workers, d, func() error {
		_, err := a.Add(ctx, tessera.NewEntry(entry))()
		return err
	})
	if serr := shutdown(ctx); err == nil && serr != nil {
		err = serr
	}
	return r, err
}

// sustain runs add in a loop in each of workers goroutines for d and
// counts the calls that returned nil.
func sustain(ctx context.Context, workers int, d time.Duration, add func() error) (*appendResult, error) {
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
		lat      = make([][]int32, workers)
		first    atomic.Int64 // appends done in the first fifth
		end      atomic.Int64 // and in the last
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := add(); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				now := time.Now()
				lat[w] = append(lat[w], int32(now.Sub(t0)/time.Microsecond))
				switch {
				case now.Before(start.Add(d / 5)):
					first.Add(1)
				case now.After(deadline.Add(-d / 5)):
					end.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if p := firstErr.Load(); p != nil {
		return nil, fmt.Errorf("couldn't append: %w", *p)
	}
	var all []int32
	for _, l := range lat {
		all = append(all, l...)
	}
	fifth := (d / 5).Seconds()
	return &appendResult{rate: float64(len(all)) / elapsed.Seconds(), p99: percentile(all, 0.99),
		first: float64(first.Load()) / fifth, end: float64(end.Load()) / fifth}, nil
}

// runVerify builds (or reuses) a log of o.logEntries entries and times
// `custodes verify --entries` (translog.Verify with record.Parse on every
// entry) and report.Compute over it, with their heap.
func runVerify(ctx context.Context, o *options, dir string, t *table) error {
	logDir := filepath.Join(dir, fmt.Sprintf("biglog-%d", o.logEntries))
	vkey, err := bigLog(ctx, logDir, o.logEntries)
	if err != nil {
		return err
	}
	src, err := translog.OpenSource(logDir)
	if err != nil {
		return err
	}
	scale := 1e6 / float64(o.logEntries)
	target := func(el time.Duration) string {
		if o.logEntries == 1_000_000 {
			return ""
		}
		return fmt.Sprintf(" (≈ %.1f s at 1M)", el.Seconds()*scale)
	}

	say("bench: custodes verify --entries over %d entries", o.logEntries)
	kinds := map[record.Kind]uint64{}
	var h heapWatch
	h.start()
	start := time.Now()
	res, err := translog.Verify(ctx, src, vkey, translog.VerifyOptions{
		Entry: func(i uint64, b []byte) error {
			e, err := record.Parse(b)
			if err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			kinds[e.Kind]++ // as custodes verify counts them
			return nil
		},
		Progress: h.sample,
	})
	el := time.Since(start)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if res.Entries != o.logEntries {
		return fmt.Errorf("verify read %d entries of %d", res.Entries, o.logEntries)
	}
	say("  %v (%.0f entries/s); live heap %s", el.Round(time.Millisecond), float64(o.logEntries)/el.Seconds(), &h)
	at1M := el.Seconds() * scale
	t.add(row{
		figure:   fmt.Sprintf("custodes verify --entries, %s entries", count(float64(o.logEntries))),
		ours:     fmt.Sprintf("%.1f s%s, %s", el.Seconds(), target(el), h.short()),
		ratio:    fmt.Sprintf("%s entries/s", count(float64(o.logEntries)/el.Seconds())),
		required: "< 60 s at 1M, constant memory", goal: "< 20 s at 1M",
		metReq: at1M < 60 && h.constant(), metGoal: at1M < 20 && h.constant(),
	})

	say("bench: report.Compute over %d entries", o.logEntries)
	h = heapWatch{}
	h.start()
	start = time.Now()
	r, err := report.Compute(ctx, src, vkey, report.Options{Progress: h.sample})
	el = time.Since(start)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if r.Checkpoint.Size != o.logEntries {
		return fmt.Errorf("report covers %d entries of %d", r.Checkpoint.Size, o.logEntries)
	}
	say("  %v (%.0f entries/s); live heap %s; %d statements", el.Round(time.Millisecond), float64(o.logEntries)/el.Seconds(), &h, r.Statements.Total)
	at1M = el.Seconds() * scale
	// The report remembers each distinct subject token per scope, so its
	// heap grows with the population (100,000 subjects here), not with
	// the entries: bounded, as report's TestMillion checks, by 256 MB.
	bounded := h.peakLive-h.base < 256<<20
	t.add(row{
		figure:   fmt.Sprintf("custodes report (report.Compute), %s entries", count(float64(o.logEntries))),
		ours:     fmt.Sprintf("%.1f s%s, %s", el.Seconds(), target(el), h.short()),
		ratio:    fmt.Sprintf("%s entries/s", count(float64(o.logEntries)/el.Seconds())),
		required: "< 60 s at 1M, memory bounded by subjects", goal: "< 20 s at 1M",
		metReq: at1M < 60 && bounded, metGoal: at1M < 20 && bounded,
	})
	return nil
}

// heapWatch samples the heap once per entry bundle.
type heapWatch struct {
	base      uint64 // live heap before
	at10      uint64 // live heap when 10% was done
	peakLive  uint64
	peakAlloc uint64
	ms        runtime.MemStats
	live      []metrics.Sample
}

func (h *heapWatch) start() {
	runtime.GC()
	h.live = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(h.live)
	h.base = h.live[0].Value.Uint64()
}

// sample costs a stop-the-world of microseconds; once per 256 entries is
// well under a second in all.
func (h *heapWatch) sample(done, total uint64) {
	runtime.ReadMemStats(&h.ms)
	metrics.Read(h.live)
	live := h.live[0].Value.Uint64()
	h.peakLive = max(h.peakLive, live)
	h.peakAlloc = max(h.peakAlloc, h.ms.HeapAlloc)
	if h.at10 == 0 && done*10 >= total {
		h.at10 = live
	}
}

// constant says the live heap did not grow after the first tenth of the
// log beyond 16 MB: what it holds does not grow with the entries.
func (h *heapWatch) constant() bool { return h.peakLive <= h.at10+16<<20 }

func (h *heapWatch) String() string {
	return fmt.Sprintf("before %.1f MB, at 10%% %.1f MB, peak %.1f MB (heap allocated peak %.1f MB)",
		mib(h.base), mib(h.at10), mib(h.peakLive), mib(h.peakAlloc))
}

func (h *heapWatch) short() string {
	return fmt.Sprintf("live heap +%.0f MB (at 10%%: +%.0f MB)", mib(h.peakLive-min(h.base, h.peakLive)), mib(h.at10-min(h.base, h.at10)))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// bigLog builds an n-entry log in dir, or finds one a kept earlier run
// built, and returns its verifier key. Tessera's POSIX storage costs one
// write-and-fsync round per batch, so many concurrent appenders and large
// batches make it fast.
func bigLog(ctx context.Context, dir string, n uint64) (string, error) {
	keyFile := dir + ".pub"
	if b, err := os.ReadFile(keyFile); err == nil {
		say("bench: reusing the %d-entry log in %s", n, dir)
		return string(b), nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	skey, vkey, err := translog.GenerateKey("big.bench.custodes/agency")
	if err != nil {
		return "", err
	}
	l, err := translog.Open(ctx, translog.Options{Dir: dir, SignerKey: skey, BatchMaxSize: 4096, BatchMaxAge: 20 * time.Millisecond})
	if err != nil {
		return "", err
	}
	say("bench: building a %d-entry log in %s", n, dir)
	start := time.Now()
	var next atomic.Uint64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 2048 {
		wg.Go(func() {
			for firstErr.Load() == nil {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				b, err := synthlog.Entry(i, n).Marshal()
				if err == nil {
					_, err = l.Append(ctx, b)
				}
				if err != nil {
					err = fmt.Errorf("entry %d: %w", i, err)
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		return "", err
	}
	if p := firstErr.Load(); p != nil {
		return "", *p
	}
	el := time.Since(start)
	say("  built in %v (%.0f entries/s)", el.Round(time.Millisecond), float64(n)/el.Seconds())
	return vkey, os.WriteFile(keyFile, []byte(vkey), 0o644)
}
