package policy

import (
	"errors"
	"fmt"
	"slices"

	cedar "github.com/cedar-policy/cedar-go"
)

// Rule is one acceptable-use rule, as named by the policy's annotations.
type Rule struct {
	ID    string // from @rule, e.g. "AUP-3"
	Title string // from @title, e.g. "bulk result"
}

// Decision is the outcome of judging one request.
type Decision struct {
	Allow bool
	// Rules are the rules that denied, the most fundamental first: by
	// @rank, then by id (AUP-2 before AUP-10):
	// every rule with a forbid that applied, or else the @fallback rule when
	// nothing permitted. Empty exactly when Allow is true.
	Rules []Rule
	// Err is non-nil when the policy could not be evaluated for this request.
	// The decision is then a denial that includes the @fallback rule.
	Err error
}

// Decide judges r. It is safe for concurrent use, and answers a request it
// has answered before from memory, without evaluating Cedar again.
//
// Any evaluation error denies, even if a permit applied and no forbid did:
// a policy that cannot be evaluated has not judged the statement lawful.
func (p *Policy) Decide(r *Request) Decision {
	if r == nil {
		return p.deny(nil, errors.New("couldn't judge request: no request"))
	}
	var buf [512]byte
	key := appendKey(buf[:0], r)
	if d, ok := p.memo.get(key); ok {
		d.Rules = slices.Clone(d.Rules)
		return d
	}
	d := p.decide(r)
	if d.Err == nil {
		p.memo.put(key, Decision{Allow: d.Allow, Rules: slices.Clone(d.Rules)})
	}
	return d
}

func (p *Policy) decide(r *Request) Decision {
	req, err := cedarRequest(r)
	if err != nil {
		return p.deny(nil, err)
	}
	decision, diag := cedar.Authorize(p.set, nil, req)

	var evalErr error
	if len(diag.Errors) > 0 {
		errs := make([]error, len(diag.Errors))
		for i, e := range diag.Errors {
			errs[i] = fmt.Errorf("policy %s at line %d: %s", e.PolicyID, e.Position.Line, e.Message)
		}
		evalErr = fmt.Errorf("couldn't evaluate policy: %w", errors.Join(errs...))
	}
	if decision == cedar.Allow && evalErr == nil {
		return Decision{Allow: true}
	}

	var fired []Rule
	if decision == cedar.Deny {
		// On a deny, Reasons lists the forbids that applied, if any.
		for _, reason := range diag.Reasons {
			if rule, ok := p.ruleOf[reason.PolicyID]; ok && !slices.Contains(fired, rule) {
				fired = append(fired, rule)
			}
		}
	}
	return p.deny(fired, evalErr)
}

// deny returns a denial by fired, adding the fallback rule when nothing
// fired or evaluation failed.
func (p *Policy) deny(fired []Rule, err error) Decision {
	if (len(fired) == 0 || err != nil) && !slices.Contains(fired, p.fallback) {
		fired = append(fired, p.fallback)
	}
	p.sortFired(fired)
	return Decision{Rules: fired, Err: err}
}
