package analysis

import "testing"

// harnessCatalog knows the one relation of the performance harness's
// statement, as the gateway's catalog knows registered datasets.
type harnessCatalog struct{}

func (harnessCatalog) Columns(schema, name string) []string {
	if (schema == "" || schema == "public") && name == "persons" {
		return []string{"person_id", "full_name", "date_of_birth", "nationality", "immigration_status", "address_id", "religion", "ethnicity", "phone"}
	}
	return nil
}

// BenchmarkAnalyzePgbench analyses the statement of the performance
// harness's pgbench script (bench/) as each query mode sends it: with a
// parameter once per prepared statement, with the literal substituted in
// every simple query; "with-catalog" is AnalyzeWith, what the gateway calls.
func BenchmarkAnalyzePgbench(b *testing.B) {
	for _, c := range []struct{ mode, sql string }{
		{"prepared", "SELECT full_name FROM persons WHERE person_id = $1"},
		{"simple", "SELECT full_name FROM persons WHERE person_id = 102;"},
	} {
		for _, cat := range []Catalog{nil, harnessCatalog{}} {
			name := c.mode
			if cat != nil {
				name += "/with-catalog"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					sts, err := AnalyzeWith(c.sql, cat)
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
}
