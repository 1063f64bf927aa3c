package gateway

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/custodes/custodes/control"
)

// TestCoverageAdmit: counts are distinct per unit and per tenant, a denied
// result adds nothing, and concurrent sessions cannot together pass a cap
// each alone would respect.
func TestCoverageAdmit(t *testing.T) {
	c := newCoverage(24 * time.Hour)
	now := time.Now()
	yes := func(control.CoverageCounts) bool { return true }
	c.Admit("newark", []string{"a", "b", "a"}, now, yes)
	c.Admit("houston", []string{"b", "c"}, now, yes)
	if n := c.Counts("newark"); n.Unit != 2 || n.Tenant != 3 {
		t.Fatalf("newark = %+v, want unit 2, tenant 3", n)
	}
	n, ok := c.Admit("newark", []string{"d"}, now, func(control.CoverageCounts) bool { return false })
	if ok || n.Unit != 3 || n.Tenant != 4 {
		t.Fatalf("denied Admit = %+v %v; want the counts with d, not admitted", n, ok)
	}
	if n := c.Counts("newark"); n.Unit != 2 {
		t.Fatalf("a denied result was counted: %+v", n)
	}

	// 50 sessions race to add one new subject each under a unit cap of 10.
	const limit = 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := range 50 {
		wg.Go(func() {
			_, ok := c.Admit("race", []string{string(rune('A' + i))}, now, func(n control.CoverageCounts) bool { return n.Unit <= limit })
			if ok {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := c.Counts("race"); admitted != limit || n.Unit != limit {
		t.Fatalf("admitted %d, unit counts %d; want exactly %d", admitted, n.Unit, limit)
	}
}

// TestCoveragePrune: sightings older than the window stop counting, for the
// unit and for the tenant.
func TestCoveragePrune(t *testing.T) {
	c := newCoverage(time.Hour)
	now := time.Now()
	yes := func(control.CoverageCounts) bool { return true }
	c.Admit("newark", []string{"old"}, now.Add(-2*time.Hour), yes)
	c.Admit("newark", []string{"new"}, now, yes)
	c.pruned = time.Time{} // let the next count prune
	if n := c.Counts("newark"); n.Unit != 1 || n.Tenant != 1 {
		t.Fatalf("after the window: %+v, want 1 and 1", n)
	}
}

// fakeSightings is the control database's coverage, as another replica
// leaves it.
type fakeSightings struct {
	rows  []control.Sighting
	since []time.Time
}

func (f *fakeSightings) Sightings(_ context.Context, _ string, since time.Time) ([]control.Sighting, error) {
	f.since = append(f.since, since)
	var out []control.Sighting
	for _, r := range f.rows {
		if r.Seen.After(since) {
			out = append(out, r)
		}
	}
	return out, nil
}

// TestCoverageLoad: what the control database holds (this gateway's past,
// other replicas' present) is merged into the counts, within the window,
// and a reload asks only for what is new (with a minute's overlap).
func TestCoverageLoad(t *testing.T) {
	now := time.Now()
	src := &fakeSightings{rows: []control.Sighting{
		{Unit: "newark", Token: "a", Seen: now.Add(-time.Hour)},
		{Unit: "houston", Token: "b", Seen: now.Add(-time.Minute)},
		{Unit: "newark", Token: "old", Seen: now.Add(-48 * time.Hour)},
	}}
	c := newCoverage(24 * time.Hour)
	if err := c.load(t.Context(), src, "agency"); err != nil {
		t.Fatal(err)
	}
	if n := c.Counts("newark"); n.Unit != 1 || n.Tenant != 2 {
		t.Fatalf("after load: %+v, want newark 1, tenant 2", n)
	}
	src.rows = append(src.rows, control.Sighting{Unit: "newark", Token: "c", Seen: now})
	if err := c.load(t.Context(), src, "agency"); err != nil {
		t.Fatal(err)
	}
	if n := c.Counts("newark"); n.Unit != 2 || n.Tenant != 3 {
		t.Fatalf("after a replica's sighting: %+v, want newark 2, tenant 3", n)
	}
	if got, want := src.since[1], now.Add(-2*time.Minute); got.Before(want.Add(-time.Second)) || got.After(want.Add(time.Second)) {
		t.Errorf("second load asked since %v, want about %v (latest sighting loaded, less a minute)", got, want)
	}
}
