package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/custodes/custodes/control"
)

// coverage counts, in memory, the distinct subjects each unit of the
// tenant (and the tenant as a whole) has received rows about within the
// window (AUP-6). It is loaded from the control database at New and kept
// by the gateway from then on: every sighting the gateway adds is journaled
// with its entry (control.Private) before any row is released, and stored
// in the control database behind it, so a restart reloads at least what
// clients received. Sightings by other gateway replicas of the tenant are
// merged in every refreshInterval.
//
// It owns its maps; mu guards them.
type coverage struct {
	window time.Duration

	mu     sync.Mutex
	units  map[string]map[string]time.Time // unit → token → last seen
	tenant map[string]int                  // token → units holding it
	pruned time.Time
	loaded time.Time // the latest sighting time merged from the database
}

// refreshInterval is how often sightings of other replicas are merged.
const refreshInterval = 10 * time.Second

func newCoverage(window time.Duration) *coverage {
	return &coverage{window: window, units: map[string]map[string]time.Time{}, tenant: map[string]int{}}
}

// SightingSource is the coverage the control database holds.
type SightingSource interface {
	// Sightings lists the tenant's latest sighting of each (unit, token)
	// seen after since.
	Sightings(ctx context.Context, tenant string, since time.Time) ([]control.Sighting, error)
}

// load merges the sightings the database holds since the last load.
func (c *coverage) load(ctx context.Context, src SightingSource, tenant string) error {
	c.mu.Lock()
	since := c.loaded
	c.mu.Unlock()
	if min := time.Now().Add(-c.window); since.Before(min) {
		since = min
	}
	// A sighting stored late (the journal's applier runs behind) can carry
	// an earlier time than the last load: look back a little.
	ss, err := src.Sightings(ctx, tenant, since.Add(-time.Minute))
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range ss {
		c.add(s.Unit, s.Token, s.Seen)
		if s.Seen.After(c.loaded) {
			c.loaded = s.Seen
		}
	}
	return nil
}

// add records a sighting. c.mu is held.
func (c *coverage) add(unit, token string, t time.Time) {
	u := c.units[unit]
	if u == nil {
		u = map[string]time.Time{}
		c.units[unit] = u
	}
	last, ok := u[token]
	if !ok {
		c.tenant[token]++
	}
	if t.After(last) {
		u[token] = t
	}
}

// prune forgets sightings older than the window, at most once a minute; in
// between, counts may include sightings up to a minute past it (an
// over-count, never an under-count). c.mu is held.
func (c *coverage) prune(now time.Time) {
	if now.Sub(c.pruned) < time.Minute {
		return
	}
	c.pruned = now
	cut := now.Add(-c.window)
	for unit, u := range c.units {
		for token, t := range u {
			if !t.After(cut) {
				delete(u, token)
				if c.tenant[token]--; c.tenant[token] <= 0 {
					delete(c.tenant, token)
				}
			}
		}
		if len(u) == 0 {
			delete(c.units, unit)
		}
	}
}

// count is the distinct subjects of unit and of the tenant with tokens
// added. c.mu is held.
func (c *coverage) count(unit string, tokens []string) control.CoverageCounts {
	u := c.units[unit]
	n := control.CoverageCounts{Unit: int64(len(u)), Tenant: int64(len(c.tenant))}
	if len(tokens) == 0 {
		return n // before execution, on every person-level statement
	}
	seen := make(map[string]bool, len(tokens))
	for _, t := range tokens {
		if seen[t] {
			continue
		}
		seen[t] = true
		if _, ok := u[t]; !ok {
			n.Unit++
		}
		if c.tenant[t] == 0 {
			n.Tenant++
		}
	}
	return n
}

// Counts is the unit's and the tenant's coverage now.
func (c *coverage) Counts(unit string) control.CoverageCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(time.Now())
	return c.count(unit, nil)
}

// Admit counts the coverage unit would have with tokens added and asks
// allow; if it agrees, the tokens are added before Admit returns, under the
// same lock, so concurrent sessions cannot together pass a cap that each
// alone respects. An admitted result whose entry then fails to be recorded
// stays counted: an over-count, never an under-count.
func (c *coverage) Admit(unit string, tokens []string, at time.Time, allow func(control.CoverageCounts) bool) (control.CoverageCounts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(at)
	n := c.count(unit, tokens)
	if !allow(n) {
		return n, false
	}
	for _, t := range tokens {
		c.add(unit, t, at)
	}
	return n, true
}

// refreshCoverage merges other replicas' sightings until ctx ends.
func (s *Server) refreshCoverage(ctx context.Context) {
	t := time.NewTicker(refreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.cov.load(ctx, s.cfg.State, s.cfg.Tenant); err != nil && ctx.Err() == nil {
			s.log.Warn("couldn't merge coverage from the control state", "err", err)
		}
	}
}

// Coverage is the distinct subjects unit and the tenant have received rows
// about within the window, as AUP-6 counts them now. The control
// database's copy trails it by the journal's sidecar store.
func (s *Server) Coverage(unit string) control.CoverageCounts { return s.cov.Counts(unit) }
