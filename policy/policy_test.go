package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	p, err := Load(defaultText)
	if err != nil {
		t.Fatalf("embedded default.cedar does not load: %v", err)
	}
	rules := p.Rules()
	if len(rules) != 10 {
		t.Fatalf("default policy has %d rules, want 10: %v", len(rules), rules)
	}
	for i, r := range rules {
		if want := fmt.Sprintf("AUP-%d", i+1); r.ID != want || r.Title == "" {
			t.Errorf("rule %d = %+v, want %s with a title", i, r, want)
		}
	}
	if p.fallback.ID != "AUP-9" {
		t.Errorf("fallback = %v, want AUP-9", p.fallback)
	}
	sum := sha256.Sum256(p.Text())
	if Default().Hash() != hex.EncodeToString(sum[:]) || string(Default().Text()) != string(defaultText) {
		t.Errorf("Hash %s is not the SHA-256 of Text", Default().Hash())
	}
}

func TestLoadErrors(t *testing.T) {
	const fallback = `@rule("F-1") @title("fallback") @fallback forbid (principal, action, resource) when { false };` + "\n"
	tests := []struct {
		name, text, want string
	}{
		{"syntax", `permit (principal, action, resource) when { context.x = 1 };`, "couldn't parse policy"},
		{"not cedar", `this is not a policy`, "couldn't parse policy"},
		{"forbid without rule", fallback + `forbid (principal, action, resource);`, "line 2: every forbid needs a @rule"},
		{"blank rule", fallback + `@rule(" ") @title("t") forbid (principal, action, resource);`, "needs a @rule"},
		{"no title", fallback + `@rule("R-1") forbid (principal, action, resource);`, "rule R-1 has no @title"},
		{"two titles", fallback + `@rule("R-1") @title("a") forbid (principal, action, resource);
@rule("R-1") @title("b") forbid (principal, action, resource);`, `rule R-1 has two titles, "a" and "b"`},
		{"duplicate id", `@id("x") ` + fallback + `@id("x") @rule("R-1") @title("a") forbid (principal, action, resource);`, `duplicate policy id "x"`},
		{"rule on permit", fallback + `@rule("R-1") permit (principal, action, resource);`, "belong on forbids"},
		{"no fallback", `@rule("R-1") @title("a") forbid (principal, action, resource);`, "no rule is marked @fallback"},
		{"two fallbacks", fallback + `@rule("R-1") @title("a") @fallback forbid (principal, action, resource);`, "rules F-1, R-1 are all marked @fallback"},
		{"empty", ``, "no rule is marked @fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load([]byte(tt.text))
			if err == nil {
				t.Fatalf("Load succeeded with rules %v", p.Rules())
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestCompareIDs(t *testing.T) {
	ordered := []string{"AUP", "AUP-1", "AUP-2", "AUP-9", "AUP-10", "AUP-10a", "B-1", "B-99999999999999999999999"}
	for i := range ordered {
		for j := range ordered {
			got := compareIDs(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("compareIDs(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}
