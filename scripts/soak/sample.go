package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/custodes/custodes/internal/deployment"
)

// sample is one scrape of the gateway's /metrics.
type sample struct {
	at                   time.Duration // since the load began
	rss, heap            float64       // bytes
	goroutines, sessions float64
	integrated, pending  float64 // log entries integrated; sidecars not yet stored
}

func (s sample) String() string {
	return fmt.Sprintf("RSS %.1f MiB, heap %.1f MiB, %v goroutines, %v sessions", s.rss/(1<<20), s.heap/(1<<20), s.goroutines, s.sessions)
}

// sampler scrapes the gateway's /metrics.
type sampler struct {
	d     *deployment.Deployment
	start time.Time

	mu      sync.Mutex
	samples []sample
	errs    int
}

func newSampler(d *deployment.Deployment) *sampler { return &sampler{d: d} }

func (s *sampler) scrape(ctx context.Context) (sample, error) {
	m, err := s.d.Metrics(ctx, "process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_goroutines",
		"custodes_sessions", "custodes_log_integrated_entries", "custodes_log_sidecars_pending")
	if err != nil {
		return sample{}, err
	}
	out := sample{
		rss:        m["process_resident_memory_bytes"],
		heap:       m["go_memstats_heap_inuse_bytes"],
		goroutines: m["go_goroutines"],
		sessions:   m["custodes_sessions"],
		integrated: m["custodes_log_integrated_entries"],
		pending:    m["custodes_log_sidecars_pending"],
	}
	if !s.start.IsZero() {
		out.at = time.Since(s.start)
	}
	return out, nil
}

// run samples every interval until ctx ends.
func (s *sampler) run(ctx context.Context, interval time.Duration) {
	s.start = time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		smp, err := s.scrape(sctx)
		cancel()
		s.mu.Lock()
		if err != nil {
			s.errs++
		} else {
			s.samples = append(s.samples, smp)
		}
		s.mu.Unlock()
	}
}

// quarter returns the mean RSS and the samples of quarter q (1 to 4) of
// the load.
func (s *sampler) quarter(q int) (mean float64, n int) {
	k := len(s.samples)
	from, to := k*(q-1)/4, k*q/4
	for _, smp := range s.samples[from:to] {
		mean += smp.rss
	}
	if to > from {
		mean /= float64(to - from)
	}
	return mean, to - from
}

// checkFlat adds the memory checks: enough samples, and the last quarter's
// mean RSS within 20% of the second quarter's (the first is warm-up).
func (s *sampler) checkFlat(c *checklist) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.add("gateway sampled throughout", len(s.samples) >= 8 && s.errs == 0, fmt.Sprintf("%d samples, %d failed scrapes", len(s.samples), s.errs))
	if len(s.samples) < 8 {
		return
	}
	q2, _ := s.quarter(2)
	q4, _ := s.quarter(4)
	c.add("memory flat (RSS, last quarter vs second)", q4 <= 1.2*q2 && q4 >= 0.8*q2,
		fmt.Sprintf("%.1f MiB → %.1f MiB (%+.1f%%)", q2/(1<<20), q4/(1<<20), (q4/q2-1)*100))
}

func (s *sampler) maxGoroutines() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m float64
	for _, smp := range s.samples {
		m = max(m, smp.goroutines)
	}
	return m
}

// print writes a line per tenth of the samples, and the quarters' means.
func (s *sampler) print(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "at\tRSS MiB\theap MiB\tgoroutines\tsessions\tlog entries\tsidecars pending\t")
	step := max(1, len(s.samples)/10)
	for i, smp := range s.samples {
		if i%step != 0 && i != len(s.samples)-1 {
			continue
		}
		fmt.Fprintf(tw, "%v\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\t\n", smp.at.Round(time.Second), smp.rss/(1<<20), smp.heap/(1<<20), smp.goroutines, smp.sessions, smp.integrated, smp.pending)
	}
	tw.Flush()
	if len(s.samples) >= 4 {
		var qs []string
		for q := 1; q <= 4; q++ {
			m, n := s.quarter(q)
			qs = append(qs, fmt.Sprintf("Q%d %.1f MiB (%d)", q, m/(1<<20), n))
		}
		fmt.Fprintf(w, "mean RSS by quarter of the load (samples): %s\n", strings.Join(qs, ", "))
	}
}
