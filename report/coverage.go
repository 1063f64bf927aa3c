package report

import (
	"math"
	"sort"
	"time"
)

// coverage counts distinct subjects per scope (a tenant, or a unit of it)
// over the period and over rolling windows of Window days, in one pass.
//
// The clock is the latest day of any entry read so far; the value of a
// day is fixed when the clock moves past it. An entry timed earlier than
// the clock (appenders race by microseconds) still counts for the windows
// it falls in from then on.
type coverage struct {
	startDay       int32 // sightings before this day can't reach the period's windows
	fromDay, toDay int32 // the days the period touches, inclusive
	started        bool
	day            int32   // the clock
	days           []int32 // the days with a value, ascending
	scopes         map[scopeKey]*scope
}

type scopeKey struct{ tenant, unit string }

// scope is one tenant's or unit's subjects. seen is the only part that
// grows: one entry per distinct subject token ever sighted in the scope.
type scope struct {
	seen     map[uint64]uint32 // token → dayCode(last sighting)<<1 | sighted in the period
	ring     [Window]uint64    // ring[d mod Window]: tokens last sighted on day d, for d in the window
	current  uint64            // tokens sighted in the window ending at the clock: the sum of ring
	distinct uint64            // tokens sighted in the period
	offset   int               // index in days of series[0]
	series   []uint64
	peak     uint64
}

// dayBias makes every day of years 0001–9999 a positive uint32 that still
// fits with a flag bit beside it.
const dayBias = 1 << 21

func newCoverage(from, to time.Time) *coverage {
	c := &coverage{startDay: math.MinInt32, fromDay: math.MinInt32, toDay: math.MaxInt32, scopes: map[scopeKey]*scope{}}
	if !from.IsZero() {
		c.fromDay = dayOf(from)
		c.startDay = c.fromDay - (Window - 1)
	}
	if !to.IsZero() {
		c.toDay = dayOf(to.Add(-time.Nanosecond))
	}
	return c
}

// dayOf is the UTC day of t, counted from 1970-01-01.
func dayOf(t time.Time) int32 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return int32(d)
}

func date(d int32) string {
	return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly)
}

func slot(d int32) int {
	m := int(d) % Window
	if m < 0 {
		m += Window
	}
	return m
}

// advance moves the clock to day d, if d is later, fixing the value of
// the day it leaves.
func (c *coverage) advance(d int32) {
	if d < c.startDay {
		return
	}
	if !c.started {
		c.started, c.day = true, d
		return
	}
	if d <= c.day {
		return
	}
	c.point()
	for _, s := range c.scopes {
		if d-c.day >= Window {
			s.ring, s.current = [Window]uint64{}, 0
			continue
		}
		for x := c.day + 1; x <= d; x++ {
			s.current -= s.ring[slot(x)]
			s.ring[slot(x)] = 0
		}
	}
	c.day = d
}

// point records the value of the clock's day, if the period touches it.
func (c *coverage) point() {
	if !c.started || c.day < c.fromDay || c.day > c.toDay {
		return
	}
	c.days = append(c.days, c.day)
	for _, s := range c.scopes {
		s.series = append(s.series, s.current)
		s.peak = max(s.peak, s.current)
	}
}

func (c *coverage) inWindow(d int32) bool { return d > c.day-Window && d <= c.day }

// sight records that scope k received rows about token on day d, which
// is not after the clock (advance(d) came first). inPeriod says whether
// the entry falls in the period.
func (c *coverage) sight(k scopeKey, token uint64, d int32, inPeriod bool) {
	if d < c.startDay {
		return
	}
	s := c.scopes[k]
	if s == nil {
		s = &scope{seen: map[uint64]uint32{}, offset: len(c.days)}
		c.scopes[k] = s
	}
	var flag uint32
	if inPeriod {
		flag = 1
	}
	code, ok := s.seen[token]
	if !ok {
		s.seen[token] = uint32(int64(d)+dayBias)<<1 | flag
		s.distinct += uint64(flag)
		if c.inWindow(d) {
			s.ring[slot(d)]++
			s.current++
		}
		return
	}
	last := int32(int64(code>>1) - dayBias)
	if flag == 1 && code&1 == 0 {
		s.distinct++
	}
	if d > last {
		if c.inWindow(last) {
			s.ring[slot(last)]--
			s.current--
		}
		if c.inWindow(d) {
			s.ring[slot(d)]++
			s.current++
		}
		code = uint32(int64(d)+dayBias)<<1 | code&1
	}
	s.seen[token] = code | flag
}

// finish fixes the last day's value and returns the report's parts.
func (c *coverage) finish() (Coverage, []Subjects) {
	c.point()
	cov := Coverage{WindowDays: Window, Days: make([]string, len(c.days)), Series: []Series{}}
	for i, d := range c.days {
		cov.Days[i] = date(d)
	}
	keys := make([]scopeKey, 0, len(c.scopes))
	for k := range c.scopes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].tenant != keys[j].tenant {
			return keys[i].tenant < keys[j].tenant
		}
		return keys[i].unit < keys[j].unit
	})
	subjects := make([]Subjects, 0, len(keys))
	for _, k := range keys {
		s := c.scopes[k]
		bands := make([]Band, len(c.days))
		for i, v := range s.series {
			bands[s.offset+i] = band(v)
		}
		cov.Series = append(cov.Series, Series{Tenant: k.tenant, Unit: k.unit, Subjects: bands})
		subjects = append(subjects, Subjects{Tenant: k.tenant, Unit: k.unit, Distinct: band(s.distinct), Peak: band(s.peak)})
	}
	return cov, subjects
}
