package policy

import "testing"

// BenchmarkDecidePgbench is the two decisions the gateway asks for one
// transaction of the performance harness's pgbench script: the statement
// phase, then the result phase with the one subject it returned, under a
// warrant listing three subjects and no coverage caps. "memo" repeats the
// same facts, as a prepared statement does; "fresh" changes the tenant's
// coverage each time, so both decisions evaluate the Cedar policy.
func BenchmarkDecidePgbench(b *testing.B) {
	p := Default()
	for _, fresh := range []bool{false, true} {
		name := "memo"
		if fresh {
			name = "fresh"
		}
		b.Run(name, func(b *testing.B) {
			stmt := lawful(PhaseStatement)
			stmt.Coverage = Coverage{UnitSubjects: 3, TenantSubjects: 3}
			b.ReportAllocs()
			for b.Loop() {
				if fresh {
					stmt.Coverage.TenantSubjects++
				}
				if !p.Decide(stmt).Allow {
					b.Fatal("statement denied")
				}
				res := *stmt
				res.Phase, res.ResultSubjects = PhaseResult, 1
				if !p.Decide(&res).Allow {
					b.Fatal("result denied")
				}
			}
		})
	}
}
