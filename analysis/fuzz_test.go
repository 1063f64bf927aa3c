package analysis

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// FuzzAnalyze checks that no input makes Analyze or AnalyzeWith panic and
// that what they return keeps its promises: at least one statement, a class
// for each, texts taken from the input, unjudged statements of
// ClassUnknown, and for AnalyzeWith the scope facts of checkScopes.
func FuzzAnalyze(f *testing.F) {
	for _, sql := range allSQL() {
		f.Add(sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		stmts, err := Analyze(sql)
		with, errWith := AnalyzeWith(sql, demoCatalog)
		if (err == nil) != (errWith == nil) {
			t.Fatalf("Analyze(%q) and AnalyzeWith disagree: %v / %v", sql, err, errWith)
		}
		if err != nil {
			if stmts != nil || with != nil {
				t.Fatalf("Analyze(%q) returned statements with an error", sql)
			}
			return
		}
		if len(with) != len(stmts) {
			t.Fatalf("AnalyzeWith(%q): %d statements, Analyze %d", sql, len(with), len(stmts))
		}
		for _, st := range with {
			if msg := checkScopes(st, demoCatalog); msg != "" {
				t.Fatalf("AnalyzeWith(%q): %s", sql, msg)
			}
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

// checkScopes checks what AnalyzeWith promises about one statement.
func checkScopes(st *Statement, cat fakeCatalog) string {
	real := func(r Relation, col string) bool {
		cols := cat.Columns(r.Schema, r.Name)
		return cols == nil && col == "*" || slices.Contains(cols, col) || cols == nil
	}
	for _, u := range st.Uses {
		for col, n := range u.Restricted {
			if n == 0 || n < -1 {
				return fmt.Sprintf("use %s restricts %s to %d values", u.Alias, col, n)
			}
			if !real(u.Relation, col) {
				return fmt.Sprintf("use %s restricts %s, which it has not", u.Alias, col)
			}
		}
		for _, col := range u.Predicated {
			if !real(u.Relation, col) {
				return fmt.Sprintf("use %s predicates %s, which it has not", u.Alias, col)
			}
		}
	}
	for _, c := range st.ResolvedColumns {
		if cols := cat.Columns(c.Relation.Schema, c.Relation.Name); !slices.Contains(cols, c.Column) {
			return fmt.Sprintf("resolved %s.%s is not a catalog column", c.Relation, c.Column)
		}
	}
	// Every relation a read names is a use, or the statement is
	// ambiguous: the scope pass cannot silently miss one.
	if st.Class == ClassRead && !st.Into && len(st.Ambiguous) == 0 {
		for _, r := range st.Relations {
			if !slices.ContainsFunc(st.Uses, func(u RelationUse) bool { return u.Relation == r }) {
				return fmt.Sprintf("relation %s has no use", r)
			}
		}
	}
	return ""
}
