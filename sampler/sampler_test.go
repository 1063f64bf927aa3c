package sampler

import (
	"strings"
	"testing"
	"time"
)

// TestGrowthAcrossRestart: samples recorded before the sampler started
// (read back from the log's attestations) count towards the growth window,
// and samples older than the window do not.
func TestGrowthAcrossRestart(t *testing.T) {
	now := time.Now()
	cfg := Config{GrowthRatio: 3, GrowthWindow: 24 * time.Hour}
	sample := func(ago time.Duration, bytes string) *Sample {
		return FromAttrs(now.Add(-ago), map[string]string{"bytes.public.persons": bytes, "rows.public.persons": "10", "readers": ""})
	}

	fresh := New(nil, nil, cfg, nil)
	if _, ok := fresh.observe(sample(0, "4000")); ok {
		t.Fatal("a first sample alone raised a growth alert")
	}

	seeded := New(nil, nil, cfg, nil)
	seeded.Seed([]*Sample{sample(20*time.Hour, "1000"), sample(30*time.Hour, "10")})
	a, ok := seeded.observe(sample(0, "4000"))
	if !ok || a[0] != "storage_growth" || !strings.Contains(a[1], "grew 4.00× in 20h0m0s (from 1000 to 4000 bytes)") {
		t.Fatalf("after a seeded sample 20h ago: %q %v; want 4× growth from it (the 30h-old one is outside the window)", a, ok)
	}

	old := New(nil, nil, cfg, nil)
	old.Seed([]*Sample{sample(30*time.Hour, "10")})
	if a, ok := old.observe(sample(0, "4000")); ok {
		t.Fatalf("a sample outside the window counted: %q", a)
	}
}

func TestFromAttrs(t *testing.T) {
	s := FromAttrs(time.Unix(0, 0), map[string]string{"bytes.a.b": "7", "bytes.c.d": "5", "rows.a.b": "2", "readers": "x", "direct_sessions": "1", "bytes.bad": "x"})
	if s.total() != 12 || s.Rows["a.b"] != 2 || len(s.Bytes) != 2 {
		t.Fatalf("FromAttrs: %+v", s)
	}
}
