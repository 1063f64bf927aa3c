package policy

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	cedar "github.com/cedar-policy/cedar-go"
)

//go:embed default.cedar
var defaultText []byte

var defaultPolicy = mustLoad(defaultText)

func mustLoad(text []byte) *Policy {
	p, err := Load(text)
	if err != nil {
		panic("policy: embedded default.cedar is broken: " + err.Error())
	}
	return p
}

// Default returns the acceptable-use policy built into the binary.
func Default() *Policy { return defaultPolicy }

// Annotation keys read from the policy text.
const (
	annID       = "id"
	annRule     = "rule"
	annTitle    = "title"
	annFallback = "fallback"
	annRank     = "rank"
)

// A Policy is a loaded, compiled acceptable-use policy. It is immutable and
// safe for concurrent use.
type Policy struct {
	text     []byte
	hash     string
	set      policyList
	ruleOf   map[cedar.PolicyID]Rule // forbids only
	rules    []Rule                  // sorted
	fallback Rule
	// rank orders a denial's rules: the most fundamental reason is named
	// first (@rank, lower first; unranked rules after, by id).
	rank map[string]int
	memo memo
}

// policyList is a fixed, ordered [cedar.PolicyIterator]: cheaper to walk
// than a map-backed PolicySet, and deterministic.
type policyList []namedPolicy

type namedPolicy struct {
	id cedar.PolicyID
	p  *cedar.Policy
}

func (l policyList) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, np := range l {
			if !yield(np.id, np.p) {
				return
			}
		}
	}
}

// Load parses and checks a policy text. Beyond Cedar syntax it requires that
// every forbid names its rule with @rule, that every rule has a @title (on at
// least one of its forbids, and no two different), that @id values are
// unique, and that exactly one rule is marked @fallback.
func Load(text []byte) (*Policy, error) {
	list, err := cedar.NewPolicyListFromBytes("", text)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse policy: %w", err)
	}
	p := &Policy{
		text:   slices.Clone(text),
		ruleOf: make(map[cedar.PolicyID]Rule),
		rank:   make(map[string]int),
	}
	sum := sha256.Sum256(text)
	p.hash = hex.EncodeToString(sum[:])

	titles := make(map[string]string) // rule id → title
	var order []string                // rule ids in order of appearance
	var fallback []string
	seen := make(map[cedar.PolicyID]bool)
	for i, cp := range list {
		ann := cp.Annotations()
		pos := cp.Position()
		where := fmt.Sprintf("policy at line %d", pos.Line)

		id := cedar.PolicyID(fmt.Sprintf("policy%d", i))
		if v, ok := ann[annID]; ok {
			if v == "" {
				return nil, fmt.Errorf("%s: empty @id", where)
			}
			id = cedar.PolicyID(v)
		}
		if seen[id] {
			return nil, fmt.Errorf("%s: duplicate policy id %q", where, id)
		}
		seen[id] = true
		p.set = append(p.set, namedPolicy{id, cp})

		ruleID, hasRule := ann[annRule]
		title, hasTitle := ann[annTitle]
		_, isFallback := ann[annFallback]
		rankText, hasRank := ann[annRank]
		if cp.Effect() == cedar.Permit {
			if hasRule || hasTitle || isFallback || hasRank {
				return nil, fmt.Errorf("%s: @rule, @title and @fallback belong on forbids, not permits", where)
			}
			continue
		}
		r := strings.TrimSpace(string(ruleID))
		if r == "" || r != string(ruleID) {
			return nil, fmt.Errorf("%s: every forbid needs a @rule(\"...\") naming the rule it enforces, without spaces around it", where)
		}
		if _, ok := titles[r]; !ok {
			titles[r] = ""
			order = append(order, r)
		}
		if hasTitle {
			if title == "" {
				return nil, fmt.Errorf("%s: empty @title for rule %s", where, r)
			}
			if prev := titles[r]; prev != "" && prev != string(title) {
				return nil, fmt.Errorf("%s: rule %s has two titles, %q and %q", where, r, prev, title)
			}
			titles[r] = string(title)
		}
		if hasRank {
			n, err := strconv.Atoi(string(rankText))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s: @rank(%q) must be a non-negative integer", where, rankText)
			}
			if prev, ok := p.rank[r]; ok && prev != n {
				return nil, fmt.Errorf("%s: rule %s has two ranks, %d and %d", where, r, prev, n)
			}
			p.rank[r] = n
		}
		if isFallback && !slices.Contains(fallback, r) {
			fallback = append(fallback, r)
		}
		p.ruleOf[id] = Rule{ID: r} // title filled in below
	}

	for _, r := range order {
		if titles[r] == "" {
			return nil, fmt.Errorf("rule %s has no @title on any of its forbids", r)
		}
		p.rules = append(p.rules, Rule{ID: r, Title: titles[r]})
	}
	sortRules(p.rules)
	for id, r := range p.ruleOf {
		p.ruleOf[id] = Rule{ID: r.ID, Title: titles[r.ID]}
	}
	switch len(fallback) {
	case 1:
		p.fallback = Rule{ID: fallback[0], Title: titles[fallback[0]]}
	case 0:
		return nil, fmt.Errorf("no rule is marked @fallback: one must name denials when nothing permits")
	default:
		return nil, fmt.Errorf("rules %s are all marked @fallback: exactly one may be", strings.Join(fallback, ", "))
	}
	return p, nil
}

// Text returns the policy text as loaded.
func (p *Policy) Text() []byte { return slices.Clone(p.text) }

// Hash returns the hex SHA-256 of the policy text: the policy version.
func (p *Policy) Hash() string { return p.hash }

// Rules returns every rule in the policy, sorted by id.
func (p *Policy) Rules() []Rule { return slices.Clone(p.rules) }

// sortFired orders a denial's rules by rank, then by id.
func (p *Policy) sortFired(rs []Rule) {
	rank := func(id string) int {
		if n, ok := p.rank[id]; ok {
			return n
		}
		return 1 << 30
	}
	slices.SortFunc(rs, func(a, b Rule) int {
		if ra, rb := rank(a.ID), rank(b.ID); ra != rb {
			return ra - rb
		}
		return compareIDs(a.ID, b.ID)
	})
}

// sortRules orders rules by id, numbers compared as numbers, so that AUP-2
// comes before AUP-10.
func sortRules(rs []Rule) {
	slices.SortFunc(rs, func(a, b Rule) int { return compareIDs(a.ID, b.ID) })
}

func compareIDs(a, b string) int {
	pa, na := splitNumber(a)
	pb, nb := splitNumber(b)
	if c := strings.Compare(pa, pb); c != 0 {
		return c
	}
	if na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// splitNumber splits "AUP-10" into "AUP-" and 10; an id without a trailing
// number sorts before the numbered ones of its prefix.
func splitNumber(s string) (string, uint64) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.ParseUint(s[i:], 10, 64)
	if err != nil {
		return s, 0
	}
	return s[:i], n + 1
}
