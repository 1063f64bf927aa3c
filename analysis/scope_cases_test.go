package analysis

import (
	"reflect"
	"slices"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestScopeCases(t *testing.T) {
	if len(scopeCases) < 50 {
		t.Fatalf("only %d scope cases", len(scopeCases))
	}
	for _, tc := range scopeCases {
		stmts, err := AnalyzeWith(tc.sql, demoCatalog)
		if err != nil {
			t.Errorf("AnalyzeWith(%q): %v", tc.sql, err)
			continue
		}
		st := stmts[0]
		var uses []string
		for _, u := range st.Uses {
			uses = append(uses, useString(u))
		}
		if !slices.Equal(uses, tc.uses) {
			t.Errorf("%s\n  uses = %q\n  want   %q", tc.sql, uses, tc.uses)
		}
		got := resolvedStrings(st)
		for _, h := range tc.has {
			if !slices.Contains(got, h) {
				t.Errorf("%s\n  resolved %q lacks %q", tc.sql, got, h)
			}
		}
		for _, h := range tc.hasnt {
			if slices.Contains(got, h) {
				t.Errorf("%s\n  resolved %q has %q", tc.sql, got, h)
			}
		}
		if (len(st.Ambiguous) > 0) != tc.ambiguous {
			t.Errorf("%s\n  Ambiguous = %q, want ambiguous=%v", tc.sql, st.Ambiguous, tc.ambiguous)
		}
	}
}

func TestScopeInvariants(t *testing.T) {
	for _, sql := range allSQL() {
		stmts, err := AnalyzeWith(sql, demoCatalog)
		if err != nil {
			continue
		}
		for _, st := range stmts {
			if msg := checkScopes(st, demoCatalog); msg != "" {
				t.Errorf("%q: %s", sql, msg)
			}
		}
	}
}

// AnalyzeWith adds facts and changes none: with them removed, it is
// Analyze.
func TestAnalyzeWithKeepsAnalyze(t *testing.T) {
	for _, sql := range allSQL() {
		a, errA := Analyze(sql)
		b, errB := AnalyzeWith(sql, demoCatalog)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("%q: errors differ: %v / %v", sql, errA, errB)
		}
		for _, st := range b {
			st.Uses, st.ResolvedColumns, st.Ambiguous = nil, nil, nil
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q: AnalyzeWith changed Analyze's facts", sql)
		}
	}
}

func allSQL() []string {
	var all []string
	for _, tc := range corpus {
		all = append(all, tc.sql)
	}
	for _, tc := range scopeCases {
		all = append(all, tc.sql)
	}
	return all
}

// The scope pass reads these types by hand; a field pg_query adds to one of
// them must be reviewed, or it could hide a column reference.
func TestHandReadTypesComplete(t *testing.T) {
	handRead := map[string][]string{
		"SelectStmt": {"distinct_clause", "into_clause", "target_list", "from_clause", "where_clause",
			"group_clause", "having_clause", "window_clause", "values_lists", "sort_clause",
			"limit_offset", "limit_count", "locking_clause", "with_clause", "larg", "rarg"},
		"JoinExpr":         {"larg", "rarg", "using_clause", "join_using_alias", "quals", "alias"},
		"RangeSubselect":   {"subquery", "alias"},
		"RangeFunction":    {"functions", "alias", "coldeflist"},
		"RangeTableSample": {"relation", "method", "args", "repeatable"},
		"RangeTableFunc":   {"docexpr", "rowexpr", "namespaces", "columns", "alias"},
		"JsonTable":        {"context_item", "pathspec", "passing", "columns", "on_error", "alias"},
		"RangeVar":         {"alias"},
		"WithClause":       {"ctes"},
		"CommonTableExpr": {"aliascolnames", "ctequery", "search_clause", "cycle_clause",
			"ctecolnames", "ctecoltypes", "ctecoltypmods", "ctecolcollations"},
		"CTECycleClause":   {"cycle_col_list", "cycle_mark_value", "cycle_mark_default"},
		"CTESearchClause":  {"search_col_list"},
		"SubLink":          {"xpr", "testexpr", "oper_name", "subselect"},
		"ResTarget":        {"indirection", "val"},
		"UpdateStmt":       {"relation", "target_list", "where_clause", "from_clause", "returning_list", "with_clause"},
		"DeleteStmt":       {"relation", "using_clause", "where_clause", "returning_list", "with_clause"},
		"InsertStmt":       {"relation", "cols", "select_stmt", "on_conflict_clause", "returning_list", "with_clause"},
		"MergeStmt":        {"relation", "source_relation", "join_condition", "merge_when_clauses", "returning_list", "with_clause"},
		"MergeWhenClause":  {"condition", "target_list", "values"},
		"OnConflictClause": {"infer", "target_list", "where_clause"},
		"InferClause":      {"index_elems", "where_clause"},
		"CopyStmt":         {"relation", "query", "attlist", "options", "where_clause"},
	}
	for name, fields := range fastNodes {
		handRead[name] = fields
	}
	msgs := pg_query.File_pg_query_proto.Messages()
	for name, want := range handRead {
		md := msgs.ByName(protoreflect.Name(name))
		if md == nil {
			t.Errorf("pg_query has no %s", name)
			continue
		}
		var got []string
		for i := 0; i < md.Fields().Len(); i++ {
			if fd := md.Fields().Get(i); fd.Kind() == protoreflect.MessageKind {
				got = append(got, string(fd.Name()))
			}
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("%s has message fields %q; the scope pass reads %q", name, got, want)
		}
	}
}

// Each statement of a string has its own scopes.
func TestScopesPerStatement(t *testing.T) {
	stmts, err := AnalyzeWith("SELECT lat FROM location_pings; SELECT religion FROM persons WHERE person_id = 2", demoCatalog)
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 2 || len(stmts[1].Uses) != 1 || useString(stmts[1].Uses[0]) != "persons r(person_id=1) p(person_id)" {
		t.Fatalf("second statement's uses: %+v", stmts[1].Uses)
	}
	if !slices.Contains(resolvedStrings(stmts[1]), "persons.religion@select") || slices.Contains(resolvedStrings(stmts[0]), "persons.religion@select") {
		t.Errorf("resolved columns not kept per statement: %q / %q", resolvedStrings(stmts[0]), resolvedStrings(stmts[1]))
	}
}

// Without a catalog no relation is known: uses and restrictions are still
// found, by the names written, and nothing is resolved to a real column.
func TestNilCatalog(t *testing.T) {
	for _, tc := range []struct {
		sql       string
		uses      []string
		ambiguous bool
	}{
		{"SELECT lat FROM location_pings WHERE person_id = 1", []string{"location_pings r(person_id=1) p(person_id)"}, false},
		{"SELECT l.lat FROM location_pings l JOIN persons p ON p.person_id = l.person_id WHERE p.person_id IN (1, 2)",
			[]string{"l=location_pings r(person_id=2) p(person_id)", "p=persons r(person_id=2) p(person_id)"}, false},
		{"SELECT lat FROM location_pings l JOIN persons p ON p.person_id = l.person_id", []string{"l=location_pings p(person_id)", "p=persons p(person_id)"}, true},
		{"SELECT r FROM persons AS p(a, r) WHERE a = 1", []string{"p=persons p(*)"}, false},
		{"SELECT * FROM persons WHERE person_id = 1", []string{"persons r(person_id=1) p(person_id)"}, false},
	} {
		stmts, err := AnalyzeWith(tc.sql, nil)
		if err != nil {
			t.Fatal(err)
		}
		var uses []string
		for _, u := range stmts[0].Uses {
			uses = append(uses, useString(u))
		}
		if !slices.Equal(uses, tc.uses) {
			t.Errorf("%s\n  uses = %q\n  want   %q", tc.sql, uses, tc.uses)
		}
		if len(stmts[0].ResolvedColumns) > 0 {
			t.Errorf("%s: resolved %v without a catalog", tc.sql, stmts[0].ResolvedColumns)
		}
		if (len(stmts[0].Ambiguous) > 0) != tc.ambiguous {
			t.Errorf("%s: Ambiguous = %q", tc.sql, stmts[0].Ambiguous)
		}
	}
}

// AnalyzeWith is called from every session at once.
func TestConcurrentAnalyzeWith(t *testing.T) {
	all := allSQL()
	want := make([][]*Statement, len(all))
	for i, sql := range all {
		want[i], _ = AnalyzeWith(sql, demoCatalog)
	}
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := range all {
				j := (i + g*11) % len(all)
				if got, _ := AnalyzeWith(all[j], demoCatalog); !reflect.DeepEqual(got, want[j]) {
					errs <- all[j]
					return
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if sql := <-errs; sql != "" {
			t.Errorf("concurrent AnalyzeWith(%q) differs from a sequential one", sql)
		}
	}
}
