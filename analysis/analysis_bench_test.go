package analysis

import "testing"

// BenchmarkAnalyzePgbench analyses the statement of the performance
// harness's pgbench script (bench/) as each query mode sends it: with a
// parameter once per prepared statement, with the literal substituted in
// every simple query.
func BenchmarkAnalyzePgbench(b *testing.B) {
	for _, c := range []struct{ mode, sql string }{
		{"prepared", "SELECT full_name FROM persons WHERE person_id = $1"},
		{"simple", "SELECT full_name FROM persons WHERE person_id = 102;"},
	} {
		b.Run(c.mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sts, err := Analyze(c.sql)
				if err != nil {
					b.Fatal(err)
				}
				if len(sts) != 1 || len(sts[0].Relations) != 1 {
					b.Fatalf("got %d statements", len(sts))
				}
			}
		})
	}
}
