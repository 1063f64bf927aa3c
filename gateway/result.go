package gateway

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/policy"
)

// maxTokens bounds the subject tokens one entry lists; entries are at most
// 64 KiB (a tlog-tiles limit) and a token takes 17 bytes.
const maxTokens = 2000

// limit is the distinct subjects the statement's authority allows, or -1
// when the guard need not ask (no person-level data).
func (v *verdict) limit() int64 {
	if v == nil || !v.personLevel || v.authority == nil {
		return -1
	}
	if n := len(v.authority.Subjects); n > 0 {
		return int64(n)
	}
	return v.authority.MaxSubjects
}

// resultSubjects says how many distinct subjects a result is about, and
// which, as far as the gateway can tell. When result columns hide the
// subject key, the answer is conservative: for an authority that lists its
// subjects (scope enforced by row-level security) every listed subject; for
// any other, more than any cap allows.
func (s *session) resultSubjects(o *op) (n int64, values []string, hiddenReason string) {
	values = make([]string, 0, len(o.g.subjects))
	for v := range o.g.subjects {
		values = append(values, v)
	}
	slices.Sort(values)
	n = int64(len(values))
	if o.rows == 0 {
		return n, values, ""
	}
	switch {
	case len(o.g.keys) == 0:
		hiddenReason = "the result shows no subject key"
	case len(o.g.hidden) > 0:
		hiddenReason = fmt.Sprintf("result column %d is an expression that may hide subjects", o.g.hidden[0]+1)
	case o.g.opaque:
		hiddenReason = "a subject key could not be read"
	default:
		return n, values, ""
	}
	if a := o.v.authority; a != nil && len(a.Subjects) > 0 {
		values = values[:0]
		for _, id := range a.Subjects {
			values = append(values, strconv.FormatInt(id, 10))
		}
		return int64(len(values)), values, ""
	}
	return 1 << 40, values, hiddenReason
}

// judgeResult asks the policy about a result before any of it is released
// (final: the statement completed; otherwise the guard passed the scope
// mid-stream). It fills o's tokens for the entry and returns the denial, or
// nil.
func (s *session) judgeResult(ctx context.Context, o *op, final bool) *denial {
	cfg := &s.srv.cfg
	n, values, hidden := s.resultSubjects(o)
	tokens := make([]string, len(values))
	for i, v := range values {
		tokens[i] = cfg.State.SubjectToken(cfg.Tenant, v)
	}
	o.tokens, o.subjects = tokens, n

	req := *o.v.req
	req.Phase = policy.PhaseResult
	req.ResultSubjects = n
	// A completed, allowed result's subjects are counted at once (Admit):
	// they are released as soon as the entry is durable.
	var dec policy.Decision
	o.seen = now()
	cov, _ := s.srv.cov.Admit(s.unit, tokens, o.seen, func(cov control.CoverageCounts) bool {
		req.Coverage = policy.Coverage{UnitSubjects: cov.Unit, UnitCap: cfg.UnitCap, TenantSubjects: cov.Tenant, TenantCap: cfg.TenantCap}
		dec = cfg.Policy.Decide(&req)
		return dec.Allow && final
	})
	if dec.Allow {
		return nil
	}
	d := &denial{rules: dec.Rules}
	if len(d.rules) == 0 {
		d.rules = ruleList(cfg.Policy, "AUP-9")
	}
	a := o.v.authority
	switch d.rules[0].ID {
	case "AUP-3":
		scope := fmt.Sprintf("the %d allowed by authority %s", o.v.limit(), a.ID)
		switch {
		case hidden != "":
			d.reason = fmt.Sprintf("%s, so its distinct subjects cannot be counted against %s", hidden, scope)
			d.hint = "select the subject key (e.g. person_id) of every person the result is about"
		case final:
			d.reason = fmt.Sprintf("%d distinct subjects exceed %s", n, scope)
			d.hint = "ask an approver for an authority that names these subjects"
		default:
			d.reason = fmt.Sprintf("more than %d distinct subjects (stopped at the %s) exceed %s", o.v.limit(), ordinal(n), scope)
			d.hint = "ask an approver for an authority that names these subjects"
		}
	case "AUP-6":
		if cfg.UnitCap > 0 && cov.Unit > cfg.UnitCap {
			d.reason = fmt.Sprintf("unit %s would reach %d distinct subjects in %s, over its cap of %d", s.unit, cov.Unit, window(cfg), cfg.UnitCap)
		} else {
			d.reason = fmt.Sprintf("tenant %s would reach %d distinct subjects in %s, over its cap of %d", cfg.Tenant, cov.Tenant, window(cfg), cfg.TenantCap)
		}
		d.hint = "coverage caps stop slow accumulation; an overseer can review the unit's use"
	default:
		d = s.explain(o.v, &req)
	}
	return d
}

func window(cfg *Config) string {
	if days := cfg.CoverageWindow.Hours() / 24; days >= 1 {
		return fmt.Sprintf("%.0f days", days)
	}
	return cfg.CoverageWindow.String()
}

func ordinal(n int64) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.FormatInt(n, 10) + suffix
}

// recordAllowedCounted adds the result's subjects to coverage and records
// the entry (see appendEntry for the order).
func (s *session) recordAllowedCounted(ctx context.Context, o *op) (uint64, error) {
	e, det := s.statementEntry(o.v, "allow", nil)
	e.Rows = uint64(o.rows)
	s.countEntry(e, det, o)
	if !o.seen.IsZero() {
		e.Time = o.seen // the sighting's time, so coverage and the entry agree
	}
	return s.srv.appendEntry(ctx, e, det, o.tokens...)
}

// recordDenialCounted records a denied result with what was counted.
func (s *session) recordDenialCounted(ctx context.Context, o *op, d *denial) {
	ids := make([]string, len(d.rules))
	for i, r := range d.rules {
		ids[i] = r.ID
	}
	e, det := s.statementEntry(o.v, "deny", ids)
	s.countEntry(e, det, o)
	idx, err := s.srv.appendEntry(ctx, e, det)
	if err != nil {
		s.srv.log.Error("couldn't record denial", "err", err)
		d.unrecorded = true
		return
	}
	d.index, d.recorded = idx, true
}

func (s *session) countEntry(e *entryT, det *detail, o *op) {
	if o.subjects < 1<<40 {
		e.Subjects = uint64(o.subjects)
	}
	tokens := o.tokens
	if len(tokens) > maxTokens {
		tokens = tokens[:maxTokens]
	}
	e.SubjectTokens = tokens
	if n := len(o.g.subjects); n > 0 && n <= maxTokens {
		for v := range o.g.subjects {
			det.Subjects = append(det.Subjects, v)
		}
		slices.Sort(det.Subjects)
	}
}
