package report

import (
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/custodes/custodes/record"
)

// tally accumulates a report from entries in log order. Everything it
// keeps is bounded by the distinct names (tenants, units, rules, datasets),
// the distinct subject tokens and the days, except the event lists, which
// stop at maxEvents.
type tally struct {
	from, to    time.Time
	first, last time.Time // of the entries in the period

	kinds       map[record.Kind]uint64
	total       uint64
	stmts       Statements
	denials     map[string]uint64
	units       map[scopeKey]*UnitStatements
	authorities map[string]*[2]uint64 // kind → issued, revoked
	cov         *coverage
	storage     map[string]*storage // by tenant
	logins      uint64
	susp        Suspensions
	policies    Policies
	alerts      map[string]uint64
	alertsTotal uint64
}

func newTally(from, to time.Time) *tally {
	return &tally{
		from: from.UTC(), to: to.UTC(),
		kinds: map[record.Kind]uint64{}, denials: map[string]uint64{}, units: map[scopeKey]*UnitStatements{},
		authorities: map[string]*[2]uint64{}, cov: newCoverage(from, to), storage: map[string]*storage{},
		alerts: map[string]uint64{},
		susp:   Suspensions{Events: []Event{}}, policies: Policies{Versions: []PolicyVersion{}},
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (t *tally) add(e *record.Entry) {
	if !t.to.IsZero() && !e.Time.Before(t.to) {
		return
	}
	d := dayOf(e.Time)
	in := t.from.IsZero() || !e.Time.Before(t.from)
	t.cov.advance(d)
	switch {
	case e.Kind == record.KindStatement && e.Decision == "allow":
		for _, tok := range e.SubjectTokens {
			k := tokenKey(tok)
			if e.Unit != "" {
				t.cov.sight(scopeKey{e.Tenant, e.Unit}, k, d, in)
			}
			t.cov.sight(scopeKey{e.Tenant, ""}, k, d, in)
		}
	case e.Kind == record.KindStorageAttestation:
		s := t.storage[e.Tenant]
		if s == nil {
			s = &storage{latest: map[string]*sizes{}}
			t.storage[e.Tenant] = s
		}
		s.attest(e, d, in)
	}
	if !in {
		return
	}

	if t.total == 0 || e.Time.Before(t.first) {
		t.first = e.Time
	}
	if t.total == 0 || e.Time.After(t.last) {
		t.last = e.Time
	}
	t.total++
	t.kinds[e.Kind]++
	switch e.Kind {
	case record.KindStatement:
		t.statement(e)
	case record.KindAuthorityIssued, record.KindAuthorityRevoked:
		kind := e.AuthorityKind
		if kind == "" {
			kind = "unspecified"
		}
		c := t.authorities[kind]
		if c == nil {
			c = &[2]uint64{}
			t.authorities[kind] = c
		}
		if e.Kind == record.KindAuthorityIssued {
			c[0]++
		} else {
			c[1]++
		}
	case record.KindLoginFailure:
		t.logins++
	case record.KindSuspension, record.KindResumption:
		if e.Kind == record.KindSuspension {
			t.susp.Suspensions++
		} else {
			t.susp.Resumptions++
		}
		if len(t.susp.Events) == maxEvents {
			t.susp.Omitted++
			break
		}
		t.susp.Events = append(t.susp.Events, Event{Time: stamp(e.Time), Kind: string(e.Kind),
			Tenant: e.Tenant, Unit: e.Unit, Reason: attr(e, "reason")})
	case record.KindPolicyPublished:
		t.policies.Published++
		if len(t.policies.Versions) == maxEvents {
			t.policies.Omitted++
			break
		}
		rules := e.Rules
		if rules == nil {
			rules = []string{}
		}
		t.policies.Versions = append(t.policies.Versions, PolicyVersion{Time: stamp(e.Time), Tenant: e.Tenant,
			Version: attr(e, "version"), Policy: e.Policy, Rules: rules})
	case record.KindAlert:
		t.alertsTotal++
		for _, r := range e.Rules {
			t.alerts[r]++
		}
	}
}

func (t *tally) statement(e *record.Entry) {
	k := scopeKey{e.Tenant, e.Unit}
	u := t.units[k]
	if u == nil {
		u = &UnitStatements{Tenant: e.Tenant, Unit: e.Unit}
		t.units[k] = u
	}
	t.stmts.Total++
	if e.Decision == "allow" {
		t.stmts.Allowed++
		u.Allowed++
		if uint64(len(e.SubjectTokens)) < e.Subjects {
			t.stmts.IncompleteTokens++
		}
		return
	}
	t.stmts.Denied++
	u.Denied++
	for _, r := range e.Rules {
		t.denials[r]++
	}
}

func attr(e *record.Entry, key string) string {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// tokenKey is a subject token as 64 bits: the token itself when it is the
// 16 lowercase hex digits custodes writes, else its FNV-1a hash. Distinct
// tokens collide with probability about n²/2⁶⁵: under 10⁻⁷ for ten million
// subjects.
func tokenKey(tok string) uint64 {
	if len(tok) == 16 {
		var v uint64
		ok := true
		for i := 0; i < 16 && ok; i++ {
			c := tok[i]
			switch {
			case '0' <= c && c <= '9':
				v = v<<4 | uint64(c-'0')
			case 'a' <= c && c <= 'f':
				v = v<<4 | uint64(c-'a'+10)
			default:
				ok = false
			}
		}
		if ok {
			return v
		}
	}
	h := fnv.New64a()
	h.Write([]byte(tok))
	return h.Sum64()
}

var authorityKinds = []string{"judicial_warrant", "court_order", "subpoena", "administrative"}

var entryKinds = []record.Kind{record.KindStatement, record.KindLoginFailure, record.KindAuthorityIssued,
	record.KindAuthorityRevoked, record.KindPolicyPublished, record.KindSuspension, record.KindResumption,
	record.KindStorageAttestation, record.KindAlert}

// banded lists the banded fields, as paths in the JSON.
var banded = []string{
	"authorities[].issued", "authorities[].revoked",
	"subjects[].distinct", "subjects[].peak_window",
	"coverage.series[].subjects[]",
}

func (t *tally) report() *Report {
	r := &Report{Format: Format}
	if !t.from.IsZero() {
		r.Period.From = stamp(t.from)
	}
	if !t.to.IsZero() {
		r.Period.To = stamp(t.to)
	}
	if t.total > 0 {
		r.Period.FirstEntry, r.Period.LastEntry = stamp(t.first), stamp(t.last)
	}
	r.Banding = Banding{Width: BandWidth, Fields: banded,
		Rule: "counts that could single out a case are shown as a band: exactly 0, or 1–249, 250–499, 500–749, … (bands of 250)"}

	r.Entries = Entries{Total: t.total, ByKind: make([]KindCount, len(entryKinds))}
	for i, k := range entryKinds {
		r.Entries.ByKind[i] = KindCount{Kind: string(k), Count: t.kinds[k]}
	}

	r.Statements = t.stmts
	r.Statements.DenialsByRule = ruleCounts(t.denials)
	r.Statements.ByUnit = make([]UnitStatements, 0, len(t.units))
	for _, u := range t.units {
		r.Statements.ByUnit = append(r.Statements.ByUnit, *u)
	}
	sort.Slice(r.Statements.ByUnit, func(i, j int) bool {
		a, b := r.Statements.ByUnit[i], r.Statements.ByUnit[j]
		if a.Tenant != b.Tenant {
			return a.Tenant < b.Tenant
		}
		return a.Unit < b.Unit
	})

	// The four kinds always, so that a kind never used shows as 0; then
	// any other (only "unspecified" passes record.Parse).
	kinds := append([]string(nil), authorityKinds...)
	var extra []string
	for k := range t.authorities {
		if !contains(authorityKinds, k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range append(kinds, extra...) {
		var c [2]uint64
		if p := t.authorities[k]; p != nil {
			c = *p
		}
		r.Authorities = append(r.Authorities, Authorities{Kind: k, Issued: band(c[0]), Revoked: band(c[1])})
	}

	r.Coverage, r.Subjects = t.cov.finish()

	tenants := make([]string, 0, len(t.storage))
	for k, s := range t.storage {
		if len(s.days) > 0 {
			tenants = append(tenants, k)
		}
	}
	sort.Strings(tenants)
	r.Storage = make([]Storage, 0, len(tenants))
	for _, k := range tenants {
		r.Storage = append(r.Storage, t.storage[k].result(k))
	}

	r.LoginFailures = t.logins
	r.Suspensions = t.susp
	r.Policies = t.policies
	r.Alerts = Alerts{Total: t.alertsTotal, ByRule: ruleCounts(t.alerts)}
	return r
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func ruleCounts(m map[string]uint64) []RuleCount {
	out := make([]RuleCount, 0, len(m))
	for r, n := range m {
		out = append(out, RuleCount{Rule: r, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return ruleLess(out[i].Rule, out[j].Rule) })
	return out
}

// ruleLess orders rule ids naturally, AUP-2 before AUP-10: by the part
// before the last '-', then numbered ids by number, then by bytes. It is a
// total order, so the result doesn't depend on the map's order.
func ruleLess(a, b string) bool {
	ka, kb := ruleKey(a), ruleKey(b)
	if ka.prefix != kb.prefix {
		return ka.prefix < kb.prefix
	}
	if ka.plain != kb.plain {
		return !ka.plain
	}
	if ka.n != kb.n {
		return ka.n < kb.n
	}
	return a < b
}

type ruleSortKey struct {
	prefix string
	plain  bool // no number: after the numbered ids of the same prefix
	n      uint64
}

func ruleKey(s string) ruleSortKey {
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		if n, err := strconv.ParseUint(s[i+1:], 10, 64); err == nil {
			return ruleSortKey{prefix: s[:i], n: n}
		}
	}
	return ruleSortKey{prefix: s, plain: true}
}
