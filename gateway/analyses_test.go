package gateway

import (
	"strings"
	"testing"
)

type columnsOf map[string][]string

func (c columnsOf) Columns(schema, name string) []string { return c[schema+"."+name] }

// TestAnalysesRemembered: a repeated text is analysed once (the same
// statements come back), different texts never share an analysis, a
// parse error is remembered as an error, and long texts are not kept.
func TestAnalysesRemembered(t *testing.T) {
	cat := columnsOf{"public.persons": {"person_id", "full_name"}}
	var a analyses
	q1 := "SELECT full_name FROM persons WHERE person_id = 101"
	s1, err := a.analyze(q1, cat)
	if err != nil || len(s1) != 1 {
		t.Fatalf("analyze: %v %v", s1, err)
	}
	again, _ := a.analyze(q1, cat)
	if again[0] != s1[0] {
		t.Error("a repeated text was analysed again")
	}
	s2, _ := a.analyze("SELECT full_name FROM persons WHERE person_id = 102", cat)
	if s2[0] == s1[0] || s2[0].Text == s1[0].Text {
		t.Error("two texts share one analysis")
	}
	if _, err := a.analyze("SELEC nonsense", cat); err == nil {
		t.Fatal("garbage analysed")
	}
	if _, err := a.analyze("SELEC nonsense", cat); err == nil {
		t.Fatal("a remembered parse error came back as success")
	}
	long := "SELECT full_name FROM persons WHERE person_id = 101 /* " + strings.Repeat("x", maxAnalysedText) + " */"
	l1, _ := a.analyze(long, cat)
	l2, _ := a.analyze(long, cat)
	if l1[0] == l2[0] {
		t.Error("a text over maxAnalysedText was kept")
	}
	if len(a.m) != 3 {
		t.Errorf("remembered %d texts, want 3", len(a.m))
	}
}
