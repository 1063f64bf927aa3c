package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/custodes/custodes/analysis"
	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/policy"
)

// localKind is a statement the gateway answers itself.
type localKind int

const (
	notLocal localKind = iota
	localSetAuthority
	localShowAuthority
	localResetAuthority
)

// authoritySetting is the one setting the gateway owns.
const authoritySetting = "custodes.authority"

// scopeKeySetting is the backend setting that carries its scope key.
const scopeKeySetting = "custodes.scope_key"

// verdict is the judgment of one statement.
type verdict struct {
	stmt      *analysis.Statement // what is judged (a FETCH is judged as its cursor's query)
	orig      *analysis.Statement // what was sent, when it differs
	text      string              // what runs, for the sealed detail
	params    [][]byte
	authority *control.Authority // bound when judged; nil if none
	datasets  []string           // every relation touched, resolved
	decision  policy.Decision
	denial    *denial // non-nil: denied
	// req is the statement-phase request, reused for the result phase.
	req         *policy.Request
	personLevel bool   // touches a registered dataset with a subject key
	suspension  string // the reason, when the tenant or unit is suspended

	local      localKind
	localValue string // the authority id a SET names
}

// denial is what a denied statement's client is told.
type denial struct {
	rules      []policy.Rule
	reason     string
	hint       string
	index      uint64
	recorded   bool
	unrecorded bool // recording was tried and failed
}

// harmlessSettings may be SET by analysts: they change presentation or
// bound the analyst's own statements, never what data is reachable.
// Everything else is a security setting (AUP-7): deny by default.
var harmlessSettings = map[string]bool{
	"application_name": true, "client_encoding": true, "datestyle": true, "timezone": true,
	"extra_float_digits": true, "intervalstyle": true, "bytea_output": true,
	"client_min_messages": true, "statement_timeout": true, "lock_timeout": true,
	"idle_in_transaction_session_timeout": true, "standard_conforming_strings": true,
}

// resolve names a relation as schema.table. Unqualified names resolve to
// public, as setup fixes the backend role's search_path to public and SET
// search_path is denied.
func resolve(r analysis.Relation) string {
	if r.Schema == "" {
		return "public." + r.Name
	}
	return r.Schema + "." + r.Name
}

// judge decides a statement before execution, with authority as the
// session's custodes.authority.
func (s *session) judge(ctx context.Context, st *analysis.Statement, authority string) *verdict {
	v := &verdict{stmt: st, text: st.Text}
	cfg := &s.srv.cfg

	// The gateway's own setting.
	if set := st.Setting; set != nil && strings.EqualFold(set.Name, authoritySetting) {
		switch {
		case st.Class == analysis.ClassShow:
			v.local = localShowAuthority
			return v
		case set.Reset:
			v.local = localResetAuthority
			return v
		default:
			v.local = localSetAuthority
			v.localValue = set.Value
			if d := s.checkAuthority(ctx, set.Value); d != nil {
				v.denial = d
			}
			return v
		}
	}

	req := &policy.Request{
		Phase:    policy.PhaseStatement,
		Tenant:   cfg.Tenant,
		Unit:     s.unit,
		Analyst:  s.pseudonym,
		Class:    string(st.Class),
		Unjudged: st.Unjudged,
	}
	if p := st.Prepared; p != nil && !p.Execute && p.Class != "" {
		// PREPARE is judged as what it prepares (its facts are merged in);
		// EXECUTE is judged again, as the prepared statement, when it runs.
		req.Class = string(p.Class)
	}
	for _, r := range st.Relations {
		name := resolve(r)
		v.datasets = append(v.datasets, name)
		d, ok := cfg.Datasets[name]
		req.Datasets = append(req.Datasets, policy.Dataset{Name: name, Category: d.Category, Registered: ok, PersonLevel: ok && d.SubjectKey != ""})
		v.personLevel = v.personLevel || (ok && d.SubjectKey != "")
	}
	v.req = req
	slices.Sort(v.datasets)
	v.datasets = slices.Compact(v.datasets)
	req.ProtectedColumns, req.WholeRow = protectedUse(st, req.Datasets, cfg.Datasets)
	req.PlaceOrTimePredicate, req.SubjectPredicate = s.dragnet(st)
	for _, h := range st.Hazards {
		req.Hazards = append(req.Hazards, h.Kind)
		if h.Kind == analysis.HazardCatalogStatistics {
			// pg_stats and friends show the commonest values of every
			// column, protected ones included.
			req.WholeRow = true
		}
	}
	if set := st.Setting; set != nil && st.Class == analysis.ClassSet && !set.All {
		name := strings.ToLower(set.Name)
		switch {
		case strings.HasPrefix(name, "custodes."):
			req.Hazards = append(req.Hazards, "custodes_setting")
		case !harmlessSettings[name]:
			req.Hazards = append(req.Hazards, "security_setting")
		}
	}

	suspended, reason, err := cfg.State.Suspension(ctx, cfg.Tenant, s.unit)
	if err != nil {
		return s.unjudgeable(v, "the control state is unavailable")
	}
	req.Suspended = suspended
	v.suspension = reason
	if authority != "" {
		a, err := cfg.State.Authority(ctx, authority)
		switch {
		case errors.Is(err, control.ErrNotFound):
			// Treated as no authority: AUP-1 names it below.
		case err != nil:
			return s.unjudgeable(v, "the control state is unavailable")
		default:
			v.authority = a
			req.Authority = policyAuthority(a, cfg.Tenant, time.Now())
			if !s.srv.signed(a) {
				req.Authority.Active = false // forged or altered: not an authority at all
			}
		}
	}
	if v.personLevel {
		// AUP-6 before execution: a unit already over its cap gets nothing.
		cov := s.srv.cov.Counts(s.unit)
		req.Coverage = policy.Coverage{UnitSubjects: cov.Unit, UnitCap: cfg.UnitCap, TenantSubjects: cov.Tenant, TenantCap: cfg.TenantCap}
	}

	v.decision = cfg.Policy.Decide(req)
	if !v.decision.Allow {
		v.denial = s.explain(v, req)
		return v
	}
	if a := v.authority; a != nil && len(a.Subjects) == 0 && a.MaxSubjects > 0 {
		// A capped authority has no database-enforced scope: the result
		// guard counts subject keys, which a join can detach from the data
		// it returns (a restricted key beside an unrestricted table). So
		// every person-level table must itself be limited to named
		// subjects, within the cap, before the statement runs.
		if bound, where := s.subjectBound(st); bound < 0 || bound > a.MaxSubjects {
			r := *req
			r.Phase = policy.PhaseResult
			r.ResultSubjects = 1 << 40
			if bound > 0 {
				r.ResultSubjects = bound
			}
			if dec := cfg.Policy.Decide(&r); !dec.Allow {
				v.decision = dec
				v.denial = &denial{rules: dec.Rules}
				if bound < 0 {
					v.denial.reason = fmt.Sprintf("under capped authority %s every person-level table must be limited to named subjects, and %s is not, so its subjects cannot be counted against the %d allowed", a.ID, where, a.MaxSubjects)
				} else {
					v.denial.reason = fmt.Sprintf("the statement names up to %d subjects, more than the %d allowed by authority %s", bound, a.MaxSubjects, a.ID)
				}
				v.denial.hint = "restrict every person-level table to the subjects you need: WHERE person_id IN (…)"
			}
		}
	}
	return v
}

// subjectBound bounds the distinct subjects a statement can touch, from its
// restrictions: every occurrence of a person-level dataset must be limited
// to a known number of subject-key values, and the bound is the largest of
// those numbers. (The largest, not the sum: a join of one subject's records
// across datasets restricts each occurrence to the same values. Occurrences
// restricted to different named subjects can reach more than the bound, but
// only named subjects, each occurrence within the cap.) It is -1, with the
// first unrestricted occurrence named in where, when there is no bound.
func (s *session) subjectBound(st *analysis.Statement) (bound int64, where string) {
	for _, u := range st.Uses {
		name := resolve(u.Relation)
		d, ok := s.srv.cfg.Datasets[name]
		if !ok || d.SubjectKey == "" {
			continue
		}
		n, ok := u.Restricted[d.SubjectKey]
		if !ok || n < 0 {
			return -1, fmt.Sprintf("%s (as %s)", name, u.Alias)
		}
		bound = max(bound, int64(n))
	}
	return bound, ""
}

// dragnet reports whether a location or communications dataset is
// filtered, grouped or ordered by place or time, and whether every such
// occurrence is limited to named subjects (AUP-4).
func (s *session) dragnet(st *analysis.Statement) (placeOrTime, subjectPredicate bool) {
	subjectPredicate = true
	for _, u := range st.Uses {
		name := resolve(u.Relation)
		d, ok := s.srv.cfg.Datasets[name]
		if !ok || (d.Category != "location" && d.Category != "communications") {
			continue
		}
		t := s.srv.cat.byName[name]
		hit := false
		for _, c := range u.Predicated {
			if c == "*" || (t != nil && t.placeTime[c]) {
				hit = true
				break
			}
		}
		if !hit {
			continue
		}
		placeOrTime = true
		if _, ok := u.Restricted[d.SubjectKey]; !ok {
			subjectPredicate = false
		}
	}
	if !placeOrTime {
		subjectPredicate = false
	}
	return placeOrTime, subjectPredicate
}

// protectedUse finds the protected columns a statement touches, in any
// clause, and whether a star or whole-row reference could reach one. It
// matches column names against every dataset the statement touches, without
// resolving aliases: a same-named column of another table counts too, which
// errs on the side of the protected.
func protectedUse(st *analysis.Statement, touched []policy.Dataset, datasets map[string]Dataset) (cols []string, wholeRow bool) {
	protected := map[string]string{} // column → dataset
	for _, t := range touched {
		for _, p := range datasets[t.Name].Protected {
			protected[p] = t.Name
		}
	}
	if len(protected) == 0 {
		return nil, false
	}
	for _, c := range st.Columns {
		if c.Name == "*" {
			wholeRow = true
			continue
		}
		if ds, ok := protected[c.Name]; ok {
			cols = append(cols, ds+"."+c.Name)
		}
	}
	// By real name, after alias lists (FROM persons AS p(a, b, …) renames
	// religion): the analyser resolves references through the catalog.
	for _, c := range st.ResolvedColumns {
		name := resolve(c.Relation)
		if slices.Contains(datasets[name].Protected, c.Column) {
			cols = append(cols, name+"."+c.Column)
		}
	}
	if len(st.Ambiguous) > 0 {
		// What cannot be resolved is judged as every column.
		wholeRow = true
	}
	slices.Sort(cols)
	return slices.Compact(cols), wholeRow || st.WholeRow
}

func policyAuthority(a *control.Authority, tenant string, now time.Time) *policy.Authority {
	return &policy.Authority{
		ID:            a.ID,
		Kind:          a.Kind,
		Unit:          a.Unit,
		Datasets:      a.Datasets,
		ListsSubjects: len(a.Subjects) > 0,
		Subjects:      int64(len(a.Subjects)),
		MaxSubjects:   a.MaxSubjects,
		Active:        a.ActiveAt(now) && a.Tenant == tenant,
	}
}

func (s *session) unjudgeable(v *verdict, reason string) *verdict {
	v.decision = policy.Decision{Rules: ruleList(s.srv.cfg.Policy, "AUP-9")}
	v.denial = &denial{rules: v.decision.Rules, reason: reason, hint: "try again later"}
	return v
}

// checkAuthority says why authority id cannot be bound to this session, or
// nil if it can.
func (s *session) checkAuthority(ctx context.Context, id string) *denial {
	deny := func(reason, hint string) *denial {
		return &denial{rules: ruleList(s.srv.cfg.Policy, "AUP-1"), reason: reason, hint: hint}
	}
	a, err := s.srv.cfg.State.Authority(ctx, id)
	switch {
	case errors.Is(err, control.ErrNotFound):
		return deny(fmt.Sprintf("authority %s does not exist", id), "check the authority id with your approver")
	case err != nil:
		return &denial{rules: ruleList(s.srv.cfg.Policy, "AUP-9"), reason: "the control state is unavailable", hint: "try again later"}
	case !s.srv.signed(a):
		return deny(fmt.Sprintf("authority %s does not carry a valid approver signature", id), "ask a registered approver to issue it")
	case a.Tenant != s.srv.cfg.Tenant || a.Unit != s.unit:
		return deny(fmt.Sprintf("authority %s belongs to another unit, not %s", id, s.unit), "use an authority issued to your unit")
	case a.Status != "active":
		return deny(fmt.Sprintf("authority %s has been %s", id, a.Status), "ask an approver for a new authority")
	case time.Now().Before(a.NotBefore):
		return deny(fmt.Sprintf("authority %s is not valid before %s", id, a.NotBefore.UTC().Format(time.RFC3339)), "wait until it is valid")
	case !time.Now().Before(a.NotAfter):
		return deny(fmt.Sprintf("authority %s expired at %s", id, a.NotAfter.UTC().Format(time.RFC3339)), "ask an approver to renew it")
	}
	return nil
}

// ruleList finds rule ids in the policy, so titles come from its
// annotations; an id the policy lacks keeps an empty title.
func ruleList(p Policy, ids ...string) []policy.Rule {
	var titles map[string]string
	if rp, ok := p.(interface{ Rules() []policy.Rule }); ok {
		titles = map[string]string{}
		for _, r := range rp.Rules() {
			titles[r.ID] = r.Title
		}
	}
	out := make([]policy.Rule, len(ids))
	for i, id := range ids {
		out[i] = policy.Rule{ID: id, Title: titles[id]}
	}
	return out
}

// explain turns a policy decision into a message that says why in numbers
// and what would make the statement lawful.
func (s *session) explain(v *verdict, req *policy.Request) *denial {
	d := &denial{rules: v.decision.Rules}
	if len(d.rules) == 0 {
		d.rules = ruleList(s.srv.cfg.Policy, "AUP-9")
	}
	var personal, unregistered, uncovered []string
	for _, ds := range req.Datasets {
		if !ds.Registered {
			unregistered = append(unregistered, ds.Name)
		}
		if ds.PersonLevel {
			personal = append(personal, ds.Name)
			if v.authority != nil && !v.authority.Covers(ds.Name) {
				uncovered = append(uncovered, ds.Name)
			}
		}
	}
	a := req.Authority
	switch d.rules[0].ID {
	case "AUP-1":
		switch {
		case a == nil && s.authority == "":
			d.reason = fmt.Sprintf("person-level data (%s) needs an authority; none is set in this session", strings.Join(personal, ", "))
			d.hint = "SET custodes.authority = 'ID' to an active authority of unit " + s.unit
		case a == nil:
			d.reason = fmt.Sprintf("authority %s does not exist", s.authority)
			d.hint = "check the authority id with your approver"
		case a.Unit != s.unit:
			d.reason = fmt.Sprintf("authority %s belongs to unit %s, not %s", a.ID, a.Unit, s.unit)
			d.hint = "use an authority issued to your unit"
		default:
			d.reason = fmt.Sprintf("authority %s is not active (revoked, expired or not yet valid)", a.ID)
			d.hint = "ask an approver for a current authority"
		}
	case "AUP-2":
		if len(unregistered) > 0 {
			d.reason = fmt.Sprintf("%s: not a registered dataset", strings.Join(unregistered, ", "))
			d.hint = "only registered datasets are reachable"
		} else {
			d.reason = fmt.Sprintf("authority %s does not cover %s", a.ID, strings.Join(uncovered, ", "))
			d.hint = "ask an approver for an authority that covers these datasets"
		}
	case "AUP-7":
		var what []string
		for _, h := range req.Hazards {
			what = append(what, hazardText(h))
		}
		if len(what) == 0 {
			what = append(what, classText(req.Class))
		}
		slices.Sort(what)
		d.reason = strings.Join(slices.Compact(what), "; ")
		d.hint = "custodes releases data only as rows of targeted reads in this session"
	case "AUP-8":
		d.reason = fmt.Sprintf("unit %s of tenant %s is suspended (%s)", req.Unit, req.Tenant, v.suspension)
		d.hint = "the operator has suspended access; nothing is served until it is resumed"
	case "AUP-9":
		if len(req.Unjudged) > 0 {
			d.reason = "the statement could not be judged: " + strings.Join(req.Unjudged, "; ")
		} else {
			d.reason = fmt.Sprintf("no rule allows a statement of class %s here", req.Class)
		}
		d.hint = "use a plain targeted read"
	case "AUP-5":
		if len(req.ProtectedColumns) > 0 {
			d.reason = fmt.Sprintf("protected attributes %s may not be selected, filtered, grouped, ordered or joined on", strings.Join(req.ProtectedColumns, ", "))
		} else if slices.Contains(req.Hazards, analysis.HazardCatalogStatistics) {
			d.reason = "catalog statistics show the commonest values of protected attributes"
		} else {
			d.reason = "a star or whole-row reference would reach protected attributes"
		}
		d.hint = "name the columns you need, leaving out protected attributes"
	case "AUP-4":
		d.reason = "place or time predicates on location or communications data without a predicate naming its subjects: a dragnet"
		d.hint = "limit the query to the subjects of your authority: WHERE person_id IN (…)"
	case "AUP-10":
		d.reason = "speech and biometric data need a judicial warrant that lists its subjects"
		d.hint = "ask an approver for a judicial warrant naming the subjects"
	default:
		d.reason = "the acceptable-use policy forbids this statement"
	}
	return d
}

func hazardText(h string) string {
	switch h {
	case "copy_to":
		return "COPY … TO is an export channel"
	case "copy_program":
		return "COPY … PROGRAM runs programs on the server"
	case "select_into":
		return "SELECT INTO / CREATE TABLE AS copies data out of reach of the log"
	case "do_block":
		return "DO blocks run code the gateway cannot judge"
	case "set_role", "session_authorization":
		return "changing the session's role is not allowed"
	case "security_setting":
		return "security settings may not be changed"
	case "custodes_setting":
		return "custodes settings may only be changed with SET custodes.authority"
	case "sql_text_function":
		return "functions that run SQL text are not allowed"
	case "file_function":
		return "file system functions are not allowed"
	case "large_object":
		return "large-object functions are not allowed"
	case "network":
		return "network functions are not allowed"
	case "write":
		return "writes are not allowed through custodes"
	case "ddl":
		return "DDL is not allowed through custodes"
	}
	return strings.ReplaceAll(h, "_", " ") + " is not allowed"
}

func classText(c string) string {
	switch c {
	case "write":
		return "writes are not allowed through custodes"
	case "ddl":
		return "DDL is not allowed through custodes"
	case "copy_out":
		return "COPY … TO is an export channel"
	case "copy_in":
		return "COPY … FROM writes data"
	}
	return "statements of class " + c + " are not allowed"
}

// signed reports whether a carries its approver's valid signature over
// exactly its stored fields. Verifying is an Ed25519 check on every
// statement's hot path, so the outcome is remembered per authority, keyed by
// its stored text and signature: any change to either is verified afresh.
func (srv *Server) signed(a *control.Authority) bool {
	// The control state hands out the same *Authority while it is cached
	// (and never modifies one): remember the answer for the pointer too,
	// which spares re-encoding the statement on every statement.
	if ok, hit := srv.signedPtr.get(a); hit {
		return ok
	}
	ok := srv.signedText(a)
	srv.signedPtr.put(a, ok)
	return ok
}

func (srv *Server) signedText(a *control.Authority) bool {
	text, err := a.Statement().Text()
	if err != nil {
		return false
	}
	key := text + "\x00" + a.Approver + "\x00" + string(a.Signature)
	if ok, hit := srv.verified.Load(key); hit {
		return ok.(bool)
	}
	ok := a.Signed(srv.cfg.Approvers) == nil
	srv.verified.Store(key, ok)
	return ok
}

// ptrMemo is a bounded memo keyed by pointer: cleared when full, since
// entries of authorities no longer cached are never asked for again.
type ptrMemo struct {
	mu sync.Mutex
	m  map[*control.Authority]bool
}

func (p *ptrMemo) get(a *control.Authority) (ok, hit bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok, hit = p.m[a]
	return ok, hit
}

func (p *ptrMemo) put(a *control.Authority, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) >= 4096 {
		p.m = map[*control.Authority]bool{}
	}
	p.m[a] = ok
}
