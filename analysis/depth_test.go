package analysis

import (
	"strings"
	"testing"
)

// Without checkDepth each of these crashes the process (SIGSEGV in the C
// parser's protobuf output), so this test fails by dying.
func TestDeepChainsRefused(t *testing.T) {
	const n = 30000
	for name, sql := range map[string]string{
		"plus":          "SELECT " + strings.Repeat("a+", n) + "1",
		"concat":        "SELECT " + strings.Repeat("'x' || ", n) + "'y'",
		"cast":          "SELECT 1" + strings.Repeat("::int", n),
		"is true":       "SELECT a" + strings.Repeat(" IS TRUE", n),
		"notnull":       "SELECT a" + strings.Repeat(" NOTNULL", n),
		"in":            "SELECT a" + strings.Repeat(" IN (1)", n),
		"between":       "SELECT a" + strings.Repeat(" BETWEEN 1 AND 2 IS TRUE", n),
		"join":          "SELECT * FROM t0" + strings.Repeat(" JOIN t ON a AND b", n),
		"union":         strings.Repeat("SELECT 1, 2 WHERE a AND b UNION ", n) + "SELECT 1",
		"case operands": "SELECT 1" + strings.Repeat(" + CASE WHEN a THEN 1 END", n),
	} {
		_, err := Analyze(sql)
		if err == nil || !strings.Contains(err.Error(), "nests deeper") {
			t.Errorf("%s: err = %v, want a refusal for depth", name, err)
		}
	}
}

// Long flat lists are not deep and must still be analysed.
func TestLongFlatListsAccepted(t *testing.T) {
	for name, sql := range map[string]string{
		"in list":    "SELECT * FROM persons WHERE person_id IN (" + strings.Repeat("1,", 20000) + "1)",
		"and":        "SELECT 1 FROM persons WHERE " + strings.Repeat("person_id <> 1 AND ", 5000) + "true",
		"case":       "SELECT CASE" + strings.Repeat(" WHEN nationality = 'x' THEN 'a'", 3000) + " END FROM persons",
		"columns":    "SELECT " + strings.Repeat("full_name || 'x', ", 5000) + "1 FROM persons",
		"values":     "VALUES " + strings.Repeat("(1, 'a' || 'b'), ", 5000) + "(1, 'c')",
		"shallow+":   "SELECT " + strings.Repeat("a+", 1500) + "1 FROM persons" + strings.Repeat(" ", 9000),
		"statements": strings.Repeat("SELECT a + b + c FROM persons;", 1000),
	} {
		stmts, err := Analyze(sql)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if stmts[0].Class != ClassRead {
			t.Errorf("%s: class %q", name, stmts[0].Class)
		}
	}
}

// Just under the size that triggers the scan, the deepest chains must
// parse or fail, never crash.
func TestShortDeepChainsSurvive(t *testing.T) {
	for _, c := range []struct{ head, unit, tail string }{
		{"SELECT ", "a+", "1"},
		{"SELECT 1", "::int", ""},
		{"SELECT a", " IS TRUE", ""},
		{"SELECT * FROM t", " JOIN t ON true", ""},
		{"", "SELECT 1 UNION ", "SELECT 1"},
	} {
		n := (depthCheckBytes - 1 - len(c.head) - len(c.tail)) / len(c.unit)
		sql := c.head + strings.Repeat(c.unit, n) + c.tail
		if len(sql) >= depthCheckBytes {
			t.Fatalf("test input of %d bytes is not under the threshold", len(sql))
		}
		if _, err := Analyze(sql); err != nil && !strings.Contains(err.Error(), "recursion") {
			t.Errorf("%q chain: %v", c.unit, err) // valid SQL: only the depth may fail it
		}
	}
}
