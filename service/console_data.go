package service

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/console"
	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

// What the operator's console reads: coverage from the control state (the
// numbers AUP-6 enforces), and authorities' use and alerts from the log,
// so that what the operator is told can be checked against the public
// record.

// The alert thresholds are the config's alerts section
// (config.Alerts); these bound what the index keeps in memory.
const (
	// maxAlertEntries is how many of the log's own alert entries are shown.
	maxAlertEntries = 50
	// minKept is how many denials per analyst, and bulk attempts after
	// hours per unit, the index keeps at least (more if a threshold is
	// higher); beyond that an alert says "at least".
	minKept = 1000
	// afterHoursWindow is how far back bulk attempts after hours count.
	afterHoursWindow = 24 * time.Hour
)

// consoleData is the Service as the console sees it: the operator's
// actions, and an index of the log kept up to date on demand.
type consoleData struct {
	*Service
	idx *logIndex
}

// consoleOperator is what console.Config.Operator gets.
func (s *Service) consoleOperator() console.Operator {
	return &consoleData{Service: s, idx: newLogIndex(s.cfg.Path(s.cfg.Log.Dir), s.tlog.VerifierKey(), s.cfg.Alerts)}
}

// ruleTitles names the policy's rules for the public page.
func (s *Service) ruleTitles() map[string]string {
	m := map[string]string{}
	for _, r := range s.policy.Rules() {
		m[r.ID] = r.Title
	}
	return m
}

// Coverage lists the tenant and its units with the distinct subjects each
// received rows about within the coverage window, as the gateway counts
// them for AUP-6.
func (d *consoleData) Coverage(ctx context.Context) ([]console.Coverage, error) {
	cfg := d.cfg
	window := cfg.Coverage.Window.Duration
	pct := d.idx.cfg.CoveragePercent
	tenant := console.Coverage{Tenant: cfg.Tenant.Name, Cap: cfg.Coverage.TenantCap, Window: window,
		AlertAt: alertAt(cfg.Coverage.TenantCap, pct)}
	var units []console.Coverage
	for _, u := range cfg.Tenant.Units {
		n, err := d.coverage(ctx, u.Name)
		if err != nil {
			return nil, err
		}
		tenant.Subjects = n.Tenant
		tenant.Analysts += len(u.Analysts)
		units = append(units, console.Coverage{Tenant: cfg.Tenant.Name, Unit: u.Name, Analysts: len(u.Analysts),
			Subjects: n.Unit, Cap: cfg.Coverage.UnitCap, Window: window, AlertAt: alertAt(cfg.Coverage.UnitCap, pct)})
	}
	return append([]console.Coverage{tenant}, units...), nil
}

// coverage is the gateway's own count, current to the last statement; the
// control database's (without a gateway, as in tests) trails it slightly.
func (d *consoleData) coverage(ctx context.Context, unit string) (control.CoverageCounts, error) {
	if d.gateway != nil {
		return d.gateway.Coverage(unit), nil
	}
	return d.control.Coverage(ctx, d.cfg.Tenant.Name, unit, nil, d.cfg.Coverage.Window.Duration)
}

// alertAt is the number of subjects at which a coverage alert is raised:
// pct percent of cap, rounded up (0 without a cap).
func alertAt(cap, pct int64) int64 {
	if cap <= 0 {
		return 0
	}
	return (cap*pct + 99) / 100
}

// AuthorityUse counts, from the log, the statements under each of the
// tenant's authorities.
func (d *consoleData) AuthorityUse(ctx context.Context) (map[string]console.AuthorityUse, error) {
	as, err := d.control.Authorities(ctx, d.cfg.Tenant.Name)
	if err != nil {
		return nil, err
	}
	if err := d.idx.refresh(ctx); err != nil {
		return nil, err
	}
	d.idx.mu.Lock()
	defer d.idx.mu.Unlock()
	out := map[string]console.AuthorityUse{}
	for _, a := range as {
		if u := d.idx.authorities[d.control.AuthorityCommitment(a.ID)]; u != nil {
			out[a.ID] = console.AuthorityUse{Allowed: u.allowed, Denied: u.denied, Rows: u.rows,
				Subjects: uint64(len(u.subjects)), Last: u.last}
		}
	}
	return out, nil
}

// Alerts derives the operator's alerts from the log, with the thresholds
// of the config's alerts section: coverage near a cap, repeated denials of
// one analyst, an authority used for many more subjects than it allows
// per statement, bulk attempts after hours, suspensions in force, and the
// log's own alert entries (the storage sampler's), newest first.
func (d *consoleData) Alerts(ctx context.Context) ([]console.Alert, error) {
	if err := d.idx.refresh(ctx); err != nil {
		return nil, err
	}
	x := d.idx
	x.mu.Lock()
	defer x.mu.Unlock()
	now := time.Now()
	cfg := d.cfg
	th := x.cfg
	type timed struct {
		t time.Time
		a console.Alert
	}
	var out []timed
	add := func(t time.Time, kind, unit, detail string) {
		out = append(out, timed{t, console.Alert{Time: t.UTC().Format(time.RFC3339), Kind: kind, Unit: unit, Detail: detail}})
	}

	window := cfg.Coverage.Window.Duration
	check := func(unit string, cap int64, what string) {
		n, last := x.coverage(unit, now.Add(-window))
		if cap <= 0 || n < alertAt(cap, th.CoveragePercent) {
			return
		}
		add(last, "coverage", unit, fmt.Sprintf("%s received rows about %d distinct subjects in the last %s: %d%% of its cap of %d",
			what, n, windowText(window), n*100/cap, cap))
	}
	check("", cfg.Coverage.TenantCap, "tenant "+cfg.Tenant.Name)
	for _, u := range cfg.Tenant.Units {
		check(u.Name, cfg.Coverage.UnitCap, "unit "+u.Name)
	}

	x.prune(now)
	for analyst, ds := range x.denials {
		if len(ds) < th.Denials {
			continue
		}
		rules := map[string]int{}
		for _, dn := range ds {
			for _, r := range dn.rules {
				rules[r]++
			}
		}
		var parts []string
		for r, n := range rules {
			parts = append(parts, fmt.Sprintf("%s ×%d", r, n))
		}
		sort.Strings(parts)
		last := ds[len(ds)-1]
		add(last.t, "denials", last.unit, fmt.Sprintf("analyst %s was denied %s in the last %s (%s)",
			analyst, x.atLeast(len(ds), th.Denials, "statement"), durationText(th.DenialWindow.Duration), strings.Join(parts, ", ")))
	}

	for _, sp := range x.suspended {
		what := "unit " + sp.unit
		if sp.unit == "" {
			what = "tenant " + cfg.Tenant.Name
		}
		detail := fmt.Sprintf("%s is suspended (entry %d)", what, sp.index)
		if sp.reason != "" {
			detail += ": " + sp.reason
		}
		add(sp.t, "suspension", sp.unit, detail)
	}

	for _, e := range x.alerts {
		add(e.t, e.kind, e.unit, e.detail)
	}

	// An authority used for many more subjects than it names per
	// statement: a lead for five people that has reached fifty.
	for commitment, u := range x.authorities {
		if n := int64(len(u.subjects)); u.scope > 0 && n >= th.AuthorityUseFactor*u.scope {
			add(u.last, "authority_use", u.unit, fmt.Sprintf("authority %s… (%s) has been used for %d distinct subjects, %d× the %d it allows per statement",
				commitment[:min(12, len(commitment))], u.kind, n, n/u.scope, u.scope))
		}
	}
	// Bulk attempts outside working hours.
	for unit, ts := range x.afterHours {
		if len(ts) < th.AfterHoursAttempts {
			continue
		}
		add(ts[len(ts)-1], "after_hours", unit, fmt.Sprintf("unit %s made %s (AUP-3) outside working hours (%s %s) in the last day",
			unit, x.atLeast(len(ts), th.AfterHoursAttempts, "bulk attempt"), th.WorkingHours, th.TimeZone))
	}

	sort.SliceStable(out, func(i, j int) bool { return out[i].t.After(out[j].t) })
	alerts := make([]console.Alert, len(out))
	for i, t := range out {
		alerts[i] = t.a
	}
	return alerts, nil
}

// durationText says d for a sentence ending "in the last …".
func durationText(d time.Duration) string {
	unit := func(n time.Duration, one string) string {
		if n == 1 {
			return one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d%(24*time.Hour) == 0:
		return unit(d/(24*time.Hour), "day")
	case d%time.Hour == 0:
		return unit(d/time.Hour, "hour")
	case d%time.Minute == 0:
		return unit(d/time.Minute, "minute")
	}
	return d.String()
}

func windowText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// logIndex follows the log: it reads each entry once, in order, when asked
// after the log grew. It reads the deployment's own log directory, under
// the signed checkpoint; outsiders verify the same log with `custodes
// verify`. Memory grows with the distinct subject tokens per unit and per
// authority (about 50 bytes each), and with the last hour's denials.
type logIndex struct {
	dir  string
	vkey string
	seed maphash.Seed
	cfg  config.Alerts // with defaults

	mu          sync.Mutex
	next        uint64                          // entries read
	authorities map[string]*loggedUse           // by commitment
	seen        map[string]map[uint64]time.Time // unit ("" the tenant) → token → last allowed read
	lastSeen    map[string]time.Time
	denials     map[string][]loggedDenial // analyst pseudonym → denials within the denial window, in log order, at most keep(Denials)
	suspended   map[string]loggedSuspension
	alerts      []loggedAlert          // the last maxAlertEntries
	afterHours  map[string][]time.Time // unit → bulk denials (AUP-3) outside working hours in the last day, at most keep(AfterHoursAttempts)
}

type loggedUse struct {
	allowed, denied, rows uint64
	subjects              map[uint64]struct{}
	last                  time.Time
	kind, unit            string
	scope                 int64 // subjects listed, or max_subjects, from its issue entry
}

type loggedDenial struct {
	t     time.Time
	unit  string
	rules []string
}

type loggedSuspension struct {
	t      time.Time
	unit   string
	reason string
	index  uint64
}

type loggedAlert struct {
	t                  time.Time
	kind, unit, detail string
}

func newLogIndex(dir, vkey string, alerts config.Alerts) *logIndex {
	return &logIndex{dir: dir, vkey: vkey, seed: maphash.MakeSeed(), cfg: alerts.WithDefaults(),
		authorities: map[string]*loggedUse{}, seen: map[string]map[uint64]time.Time{}, lastSeen: map[string]time.Time{},
		denials: map[string][]loggedDenial{}, suspended: map[string]loggedSuspension{}, afterHours: map[string][]time.Time{}}
}

// keep is how many events the index keeps for a threshold.
func keep(threshold int) int { return max(threshold, minKept) }

// atLeast counts n things ("3 statements"), "at least" n when n is all
// the index keeps.
func (x *logIndex) atLeast(n, threshold int, thing string) string {
	s := fmt.Sprintf("%d %s", n, thing)
	if n != 1 {
		s += "s"
	}
	if n >= keep(threshold) {
		s = "at least " + s
	}
	return s
}

// refresh reads the entries appended since the last call.
func (x *logIndex) refresh(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	v, err := note.NewVerifier(x.vkey)
	if err != nil {
		return fmt.Errorf("couldn't parse the log's verifier key: %w", err)
	}
	src, err := translog.OpenSource(x.dir)
	if err != nil {
		return err
	}
	cp, _, _, err := client.FetchCheckpoint(ctx, src.ReadCheckpoint, v, v.Name())
	if err != nil {
		return fmt.Errorf("couldn't read the log's checkpoint: %w", err)
	}
	now := time.Now()
	for x.next < cp.Size {
		b := x.next / layout.EntryBundleWidth
		eb, err := client.GetEntryBundle(ctx, src.ReadEntryBundle, b, cp.Size)
		if err != nil {
			return fmt.Errorf("couldn't read log entries: %w", err)
		}
		for k := x.next % layout.EntryBundleWidth; k < uint64(len(eb.Entries)); k++ {
			e, err := record.Parse(eb.Entries[k])
			if err != nil {
				return fmt.Errorf("entry %d of the log is not a valid custodes entry: %w", x.next, err)
			}
			x.add(x.next, e, now)
			x.next++
		}
		if uint64(len(eb.Entries)) < layout.EntryBundleWidth && x.next < cp.Size {
			return fmt.Errorf("couldn't read log entries: bundle %d ends at entry %d, before the checkpoint's %d", b, x.next, cp.Size)
		}
	}
	return nil
}

func (x *logIndex) token(t string) uint64 {
	if len(t) == 16 {
		if v, err := strconv.ParseUint(t, 16, 64); err == nil {
			return v
		}
	}
	return maphash.String(x.seed, t)
}

// use returns the use record of an authority commitment.
func (x *logIndex) use(commitment string) *loggedUse {
	u := x.authorities[commitment]
	if u == nil {
		u = &loggedUse{subjects: map[uint64]struct{}{}}
		x.authorities[commitment] = u
	}
	return u
}

func (x *logIndex) add(i uint64, e *record.Entry, now time.Time) {
	switch e.Kind {
	case record.KindAuthorityIssued:
		u := x.use(e.Authority)
		u.kind, u.unit = e.AuthorityKind, e.Unit
		for _, k := range []string{"subjects", "max_subjects"} {
			if n, err := strconv.ParseInt(entryAttr(e, k), 10, 64); err == nil {
				u.scope = n
			}
		}
	case record.KindStatement:
		if e.Authority != "" {
			u := x.use(e.Authority)
			if e.Time.After(u.last) {
				u.last = e.Time
			}
			if e.Decision == "allow" {
				u.allowed++
				u.rows += e.Rows
				for _, t := range e.SubjectTokens {
					u.subjects[x.token(t)] = struct{}{}
				}
			} else {
				u.denied++
			}
		}
		if e.Decision == "allow" {
			for _, t := range e.SubjectTokens {
				k := x.token(t)
				for _, scope := range []string{"", e.Unit} {
					m := x.seen[scope]
					if m == nil {
						m = map[uint64]time.Time{}
						x.seen[scope] = m
					}
					if e.Time.After(m[k]) {
						m[k] = e.Time
					}
					if e.Time.After(x.lastSeen[scope]) {
						x.lastSeen[scope] = e.Time
					}
					if e.Unit == "" {
						break
					}
				}
			}
		} else if e.Analyst != "" && e.Time.After(now.Add(-x.cfg.DenialWindow.Duration)) {
			x.denials[e.Analyst] = keepLast(append(x.denials[e.Analyst], loggedDenial{t: e.Time, unit: e.Unit, rules: e.Rules}), keep(x.cfg.Denials))
		}
		if e.Decision == "deny" && slices.Contains(e.Rules, "AUP-3") && x.cfg.AfterHours(e.Time) && e.Time.After(now.Add(-afterHoursWindow)) {
			x.afterHours[e.Unit] = keepLast(append(x.afterHours[e.Unit], e.Time), keep(x.cfg.AfterHoursAttempts))
		}
	case record.KindSuspension:
		x.suspended[e.Unit] = loggedSuspension{t: e.Time, unit: e.Unit, reason: entryAttr(e, "reason"), index: i}
	case record.KindResumption:
		delete(x.suspended, e.Unit)
	case record.KindAlert:
		kind := entryAttr(e, "kind")
		if kind == "" {
			kind = "alert"
		}
		detail := entryAttr(e, "detail")
		if len(e.Rules) > 0 {
			detail = strings.TrimSpace(detail + " (" + strings.Join(e.Rules, ", ") + ")")
		}
		x.alerts = append(x.alerts, loggedAlert{t: e.Time, kind: kind, unit: e.Unit, detail: detail})
		if len(x.alerts) > maxAlertEntries {
			x.alerts = slices.Delete(x.alerts, 0, len(x.alerts)-maxAlertEntries)
		}
	}
}

// coverage counts scope's tokens last seen after since, forgetting older
// ones, and returns the time of the latest sighting.
func (x *logIndex) coverage(scope string, since time.Time) (int64, time.Time) {
	var n int64
	for k, t := range x.seen[scope] {
		if t.After(since) {
			n++
		} else {
			delete(x.seen[scope], k)
		}
	}
	return n, x.lastSeen[scope]
}

// keepLast drops the oldest of s beyond n.
func keepLast[T any](s []T, n int) []T {
	if len(s) > n {
		s = slices.Delete(s, 0, len(s)-n)
	}
	return s
}

// prune forgets denials older than the denial window and bulk attempts
// after hours older than a day.
func (x *logIndex) prune(now time.Time) {
	pruneOld(x.denials, now.Add(-x.cfg.DenialWindow.Duration), func(d loggedDenial) time.Time { return d.t })
	pruneOld(x.afterHours, now.Add(-afterHoursWindow), func(t time.Time) time.Time { return t })
}

// pruneOld drops the events of each key at or before cutoff (each key's
// events are in log order), and keys left with none.
func pruneOld[T any](m map[string][]T, cutoff time.Time, at func(T) time.Time) {
	for k, es := range m {
		i := 0
		for i < len(es) && !at(es[i]).After(cutoff) {
			i++
		}
		if i == len(es) {
			delete(m, k)
		} else {
			m[k] = es[i:]
		}
	}
}

func entryAttr(e *record.Entry, key string) string {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}
