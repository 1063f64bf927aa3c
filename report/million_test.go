package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
		if kindOf(i) != record.KindStatement {
			continue
		}
		want++
		if i%5 == 0 {
			continue
		}
		for j := range 1 + i%3 {
			person := splitmix64(i<<2|j) % bigPopulation
			pairs[person] = struct{}{}
			pairs[(1+i%bigUnits)<<32|person] = struct{}{}
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

const (
	bigUnits      = 8
	bigPopulation = 100_000
	bigSpan       = 180 * 24 * time.Hour
)

// splitmix64 is a fixed, well-mixed function of i, so the log's content
// is a function of the entry number alone.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func kindOf(i uint64) record.Kind {
	switch {
	case i%1000 == 0:
		return record.KindStorageAttestation
	case i%5000 == 1:
		return record.KindAuthorityIssued
	case i%20000 == 2:
		return record.KindAuthorityRevoked
	case i%100000 == 3:
		return record.KindSuspension
	case i%100000 == 4:
		return record.KindResumption
	case i%250000 == 5:
		return record.KindPolicyPublished
	case i%997 == 6:
		return record.KindLoginFailure
	case i%1009 == 7:
		return record.KindAlert
	}
	return record.KindStatement
}

// bigEntry is entry number i of n: six months of a tenant with eight
// units and 100,000 subjects, nine in ten entries statements.
func bigEntry(i, n uint64) *record.Entry {
	const auth = "9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e"
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	e := &record.Entry{Kind: kindOf(i), Tenant: "agency", Unit: fmt.Sprintf("unit-%d", i%bigUnits),
		Time: start.Add(time.Duration(float64(bigSpan) * float64(i) / float64(n))).Truncate(time.Microsecond)}
	kinds := []string{"judicial_warrant", "court_order", "subpoena", "administrative"}
	switch e.Kind {
	case record.KindStatement:
		e.Analyst = fmt.Sprintf("an%014x", splitmix64(i)%(1<<20))
		e.AuthorityKind, e.Authority = kinds[i%4], auth
		e.Class, e.Datasets, e.Policy = "read", []string{"public.persons", "public.case_files"}, "p1"
		e.Detail = [32]byte{1, byte(i), byte(i >> 8), byte(i >> 16)}
		if i%5 == 0 {
			e.Decision, e.Rules, e.Subjects = "deny", []string{fmt.Sprintf("AUP-%d", 1+i%10)}, 1+i%40
			break
		}
		e.Decision = "allow"
		k := 1 + i%3
		e.Rows, e.Subjects = k, k
		for j := range k {
			person := splitmix64(i<<2|j) % bigPopulation
			if tok := fmt.Sprintf("%016x", splitmix64(person^0x5eed)); !slices.Contains(e.SubjectTokens, tok) {
				e.SubjectTokens = append(e.SubjectTokens, tok)
			}
		}
	case record.KindStorageAttestation:
		grow := 1 + 2*float64(i)/float64(n) // triples over the six months
		e.Unit = ""
		e.Attrs = []record.Attr{
			{Key: "bytes.public.case_files", Value: fmt.Sprint(uint64(4e6 * grow))},
			{Key: "bytes.public.persons", Value: fmt.Sprint(uint64(8e7 * grow))},
			{Key: "rows.public.case_files", Value: fmt.Sprint(uint64(2e4 * grow))},
			{Key: "rows.public.persons", Value: fmt.Sprint(uint64(1e5 * grow))},
		}
	case record.KindAuthorityIssued, record.KindAuthorityRevoked:
		e.AuthorityKind, e.Authority = kinds[i%4], auth
	case record.KindSuspension, record.KindResumption:
		e.Attrs = []record.Attr{{Key: "reason", Value: "test of " + string(e.Kind)}}
	case record.KindPolicyPublished:
		e.Unit, e.Policy = "", fmt.Sprintf("p%d", i/250000+1)
		e.Rules = []string{"AUP-1", "AUP-2", "AUP-3"}
		e.Attrs = []record.Attr{{Key: "version", Value: fmt.Sprint(i/250000 + 1)}}
	case record.KindAlert:
		e.Rules = []string{"AUP-6"}
	}
	return e
}

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
				b, err := bigEntry(i, n).Marshal()
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
