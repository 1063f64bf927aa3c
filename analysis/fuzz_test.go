package analysis

import (
	"strings"
	"testing"
)

// FuzzAnalyze checks that no input makes Analyze panic and that what it
// returns keeps its promises: at least one statement, a class for each,
// texts taken from the input, and unjudged statements of ClassUnknown.
func FuzzAnalyze(f *testing.F) {
	for _, tc := range corpus {
		f.Add(tc.sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		stmts, err := Analyze(sql)
		if err != nil {
			if stmts != nil {
				t.Fatalf("Analyze(%q) returned statements with an error", sql)
			}
			return
		}
		if len(stmts) == 0 {
			t.Fatalf("Analyze(%q) returned no statements", sql)
		}
		for _, st := range stmts {
			if st.Class == "" {
				t.Fatalf("Analyze(%q): statement %q has no class", sql, st.Text)
			}
			if !strings.Contains(sql, st.Text) {
				t.Fatalf("Analyze(%q): text %q is not part of the input", sql, st.Text)
			}
			if len(st.Unjudged) > 0 && st.Class != ClassUnknown {
				t.Fatalf("Analyze(%q): unjudged %q but class %q", sql, st.Unjudged, st.Class)
			}
		}
	})
}
