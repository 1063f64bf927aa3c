package analysis

import (
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// The statement pgbench sends for its select-only run: the common case.
const benchSQL = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"

func BenchmarkAnalyze(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(benchSQL); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse is the parser alone, the floor under BenchmarkAnalyze.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pg_query.Parse(benchSQL); err != nil {
			b.Fatal(err)
		}
	}
}

const complexSQL = `WITH recent AS (SELECT person_id, max(observed_at) AS last FROM location_pings
		WHERE observed_at > now() - interval '1 day' GROUP BY person_id)
		SELECT p.full_name, a.city, r.last FROM persons p JOIN addresses a USING (address_id)
		JOIN recent r ON r.person_id = p.person_id WHERE p.person_id IN (101, 102, 103)
		ORDER BY r.last DESC LIMIT 10`

func BenchmarkAnalyzeComplex(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(complexSQL); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWalk is the analysis alone, on a tree parsed once.
func BenchmarkWalk(b *testing.B) {
	tree, err := pg_query.Parse(benchSQL)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		analyzeRaw(benchSQL, tree.Stmts[0])
	}
}

func BenchmarkAnalyzeWith(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AnalyzeWith(benchSQL, demoCatalog); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnalyzeWithComplex(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AnalyzeWith(complexSQL, demoCatalog); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScopes is the scope pass alone, on a tree parsed once.
func BenchmarkScopes(b *testing.B) {
	for _, bc := range []struct{ name, sql string }{
		{"simple", benchSQL},
		{"pgbench", "SELECT full_name FROM persons WHERE person_id = $1"}, // the gateway's hot path, cataloged
		{"complex", complexSQL},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tree, err := pg_query.Parse(bc.sql)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				resolveScopes(&Statement{}, tree.Stmts[0].Stmt, demoCatalog)
			}
		})
	}
}
