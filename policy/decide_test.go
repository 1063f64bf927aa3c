package policy

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// Demo datasets, as DESIGN.md registers them.
var (
	persons   = Dataset{Name: "persons", Category: "identity", Registered: true, PersonLevel: true}
	addresses = Dataset{Name: "addresses", Category: "reference", Registered: true}
	pings     = Dataset{Name: "location_pings", Category: "location", Registered: true, PersonLevel: true}
	posts     = Dataset{Name: "social_posts", Category: "speech", Registered: true, PersonLevel: true}
	cases     = Dataset{Name: "case_files", Category: "case", Registered: true, PersonLevel: true}
	secret    = Dataset{Name: "pg_authid"}
)

func warrant() *Authority {
	return &Authority{ID: "W-DEMO-1", Kind: "judicial_warrant", Unit: "newark",
		Datasets: []string{"*"}, ListsSubjects: true, Subjects: 3, Active: true}
}

func lead() *Authority {
	return &Authority{ID: "L-DEMO-2", Kind: "administrative", Unit: "newark",
		Datasets: []string{"persons", "addresses", "case_files"}, MaxSubjects: 5, Active: true}
}

// lawful is a person-level read under W-DEMO-1 that every rule lets through;
// each case below changes one thing about it.
func lawful(phase Phase) *Request {
	r := &Request{
		Phase: phase, Tenant: "agency", Unit: "newark", Analyst: "alice",
		Class: "read", Datasets: []Dataset{persons}, SubjectPredicate: true,
		Authority: warrant(),
		Coverage:  Coverage{UnitSubjects: 3, UnitCap: 200, TenantSubjects: 3},
	}
	if phase == PhaseResult {
		r.ResultSubjects = 1
	}
	return r
}

func TestDecideDefault(t *testing.T) {
	tests := []struct {
		name  string
		phase Phase
		edit  func(*Request)
		want  []string // nil: allow
	}{
		{"lawful statement", PhaseStatement, func(r *Request) {}, nil},
		{"lawful result", PhaseResult, func(r *Request) {}, nil},

		{"AUP-1 no authority", PhaseStatement, func(r *Request) { r.Authority = nil }, []string{"AUP-1"}},
		{"AUP-1 other unit", PhaseStatement, func(r *Request) { r.Authority.Unit = "houston" }, []string{"AUP-1"}},
		{"AUP-1 inactive", PhaseStatement, func(r *Request) { r.Authority.Active = false }, []string{"AUP-1"}},
		{"AUP-1 revoked before release", PhaseResult, func(r *Request) { r.Authority.Active = false }, []string{"AUP-1"}},
		{"reference data needs no authority", PhaseStatement, func(r *Request) {
			r.Authority, r.Datasets = nil, []Dataset{addresses}
		}, nil},

		{"AUP-2 unregistered", PhaseStatement, func(r *Request) { r.Datasets = []Dataset{secret} }, []string{"AUP-2"}},
		{"AUP-2 unregistered without authority", PhaseStatement, func(r *Request) {
			r.Authority, r.Datasets = nil, []Dataset{secret}
		}, []string{"AUP-2"}},
		{"AUP-2 dataset outside authority", PhaseStatement, func(r *Request) {
			r.Authority, r.Datasets = lead(), []Dataset{persons, pings}
		}, []string{"AUP-2"}},
		{"datasets inside authority", PhaseStatement, func(r *Request) {
			r.Authority, r.Datasets = lead(), []Dataset{persons, cases, addresses}
		}, nil},
		{"AUP-2 authority with no datasets", PhaseStatement, func(r *Request) { r.Authority.Datasets = nil }, []string{"AUP-2"}},

		{"AUP-3 more than listed", PhaseResult, func(r *Request) { r.ResultSubjects = 4 }, []string{"AUP-3"}},
		{"exactly the listed", PhaseResult, func(r *Request) { r.ResultSubjects = 3 }, nil},
		{"AUP-3 over max_subjects", PhaseResult, func(r *Request) { r.Authority, r.ResultSubjects = lead(), 6 }, []string{"AUP-3"}},
		{"at max_subjects", PhaseResult, func(r *Request) { r.Authority, r.ResultSubjects = lead(), 5 }, nil},
		{"AUP-3 subjects without authority", PhaseResult, func(r *Request) {
			r.Authority, r.Datasets, r.ResultSubjects = nil, []Dataset{addresses}, 1
		}, []string{"AUP-3"}},
		{"AUP-3 waits for the result", PhaseStatement, func(r *Request) { r.ResultSubjects = 1000 }, nil},

		{"AUP-4 dragnet", PhaseStatement, func(r *Request) {
			r.Datasets, r.SubjectPredicate, r.PlaceOrTimePredicate = []Dataset{pings}, false, true
		}, []string{"AUP-4"}},
		{"place predicate with subject", PhaseStatement, func(r *Request) {
			r.Datasets, r.PlaceOrTimePredicate = []Dataset{pings}, true
		}, nil},
		{"place predicate on reference data", PhaseStatement, func(r *Request) {
			r.Authority, r.Datasets, r.SubjectPredicate, r.PlaceOrTimePredicate = nil, []Dataset{addresses}, false, true
		}, nil},

		{"AUP-5 protected column", PhaseStatement, func(r *Request) { r.ProtectedColumns = []string{"persons.religion"} }, []string{"AUP-5"}},
		{"AUP-5 whole row", PhaseStatement, func(r *Request) { r.WholeRow = true }, []string{"AUP-5"}},

		{"AUP-6 unit over cap", PhaseResult, func(r *Request) { r.Coverage.UnitSubjects = 201 }, []string{"AUP-6"}},
		{"unit at cap", PhaseResult, func(r *Request) { r.Coverage.UnitSubjects = 200 }, nil},
		{"AUP-6 tenant over cap", PhaseResult, func(r *Request) {
			r.Coverage.TenantSubjects, r.Coverage.TenantCap = 1001, 1000
		}, []string{"AUP-6"}},
		{"no cap", PhaseResult, func(r *Request) { r.Coverage = Coverage{UnitSubjects: 1e6, TenantSubjects: 1e6} }, nil},
		{"AUP-6 already over before execution", PhaseStatement, func(r *Request) { r.Coverage.UnitSubjects = 250 }, []string{"AUP-6"}},
		{"over cap, reference data", PhaseStatement, func(r *Request) {
			r.Authority, r.Datasets, r.Coverage.UnitSubjects = nil, []Dataset{addresses}, 250
		}, nil},

		{"AUP-7 hazard", PhaseStatement, func(r *Request) { r.Hazards = []string{"copy_to"} }, []string{"AUP-7"}},
		{"AUP-7 write", PhaseStatement, func(r *Request) { r.Class = "write" }, []string{"AUP-7"}},
		{"AUP-7 ddl", PhaseStatement, func(r *Request) { r.Class, r.Datasets = "ddl", nil }, []string{"AUP-7"}},
		{"AUP-7 copy_in", PhaseStatement, func(r *Request) { r.Class = "copy_in" }, []string{"AUP-7"}},
		{"AUP-7 set role", PhaseStatement, func(r *Request) {
			r.Class, r.Datasets, r.Hazards = "set", nil, []string{"set_role"}
		}, []string{"AUP-7"}},

		{"AUP-8 suspended", PhaseStatement, func(r *Request) { r.Suspended = true }, []string{"AUP-8"}},
		{"AUP-8 suspended before release", PhaseResult, func(r *Request) { r.Suspended = true }, []string{"AUP-8"}},
		{"AUP-8 suspended show", PhaseStatement, func(r *Request) {
			r.Suspended, r.Class, r.Datasets = true, "show", nil
		}, []string{"AUP-8"}},

		{"AUP-9 unknown class", PhaseStatement, func(r *Request) { r.Class = "unknown" }, []string{"AUP-9"}},
		{"AUP-9 unjudged", PhaseStatement, func(r *Request) { r.Unjudged = []string{"RangeTableFunc"} }, []string{"AUP-9"}},
		{"AUP-9 nothing permits", PhaseStatement, func(r *Request) { r.Class = "frobnicate" }, []string{"AUP-9"}},
		{"AUP-9 no class", PhaseStatement, func(r *Request) { r.Class = "" }, []string{"AUP-9"}},
		{"AUP-9 set touching data", PhaseStatement, func(r *Request) { r.Class = "set" }, []string{"AUP-9"}},
		{"AUP-9 unknown phase", PhaseStatement, func(r *Request) { r.Phase = 7 }, []string{"AUP-9"}},
		{"set", PhaseStatement, func(r *Request) { r.Class, r.Datasets, r.Authority = "set", nil, nil }, nil},
		{"empty", PhaseStatement, func(r *Request) { r.Class, r.Datasets = "empty", nil }, nil},

		{"AUP-10 speech under a lead", PhaseStatement, func(r *Request) {
			r.Authority, r.Datasets = lead(), []Dataset{posts}
			r.Authority.Datasets = []string{"social_posts"}
		}, []string{"AUP-10"}},
		{"AUP-10 warrant without subjects", PhaseStatement, func(r *Request) {
			r.Datasets, r.Authority.ListsSubjects, r.Authority.MaxSubjects = []Dataset{posts}, false, 3
		}, []string{"AUP-10"}},
		{"speech under a warrant", PhaseStatement, func(r *Request) { r.Datasets = []Dataset{posts} }, nil},
		{"AUP-10 speech without authority", PhaseStatement, func(r *Request) {
			r.Authority, r.Datasets = nil, []Dataset{posts}
		}, []string{"AUP-1", "AUP-10"}},
		{"sorted by number", PhaseStatement, func(r *Request) {
			r.Authority, r.Datasets = lead(), []Dataset{posts, secret}
			r.Authority.Datasets = []string{"social_posts"}
		}, []string{"AUP-2", "AUP-10"}},
		{"several rules", PhaseStatement, func(r *Request) {
			r.Suspended, r.Class, r.WholeRow = true, "write", true
		}, []string{"AUP-8", "AUP-7", "AUP-5"}},
	}
	p := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := lawful(tt.phase)
			tt.edit(r)
			d := p.Decide(r)
			if got := ruleIDs(d); !slices.Equal(got, tt.want) || d.Allow != (tt.want == nil) {
				t.Errorf("Decide = allow %v %v (err %v), want %v", d.Allow, got, d.Err, tt.want)
			}
			if d.Err != nil && tt.name != "AUP-9 unknown phase" {
				t.Errorf("unexpected evaluation error: %v", d.Err)
			}
		})
	}
}

func ruleIDs(d Decision) []string {
	var ids []string
	for _, r := range d.Rules {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestDecideTitles(t *testing.T) {
	r := lawful(PhaseResult)
	r.ResultSubjects = 37
	d := Default().Decide(r)
	if want := []Rule{{"AUP-3", "bulk result"}}; !slices.Equal(d.Rules, want) {
		t.Errorf("Rules = %v, want %v", d.Rules, want)
	}
}

func TestDecideNil(t *testing.T) {
	d := Default().Decide(nil)
	if d.Allow || d.Err == nil || !slices.Equal(ruleIDs(d), []string{"AUP-9"}) {
		t.Errorf("Decide(nil) = %+v, want a denial by AUP-9 with an error", d)
	}
}

// A policy that reads context.authority without checking for it fails to
// evaluate when there is none; that must deny, by the fallback rule, even
// though a permit applied and no forbid did.
func TestEvaluationErrorDenies(t *testing.T) {
	p, err := Load([]byte(`
permit (principal, action, resource);

@rule("X-1") @title("careless") @fallback
forbid (principal, action, resource)
when { context.authority.kind == "forbidden" };
`))
	if err != nil {
		t.Fatal(err)
	}
	r := lawful(PhaseStatement)
	if d := p.Decide(r); !d.Allow || d.Err != nil {
		t.Fatalf("with an authority: %+v, want allow", d)
	}
	r.Authority = nil
	d := p.Decide(r)
	if d.Allow || d.Err == nil {
		t.Fatalf("without an authority: %+v, want a denial with an error", d)
	}
	if want := []Rule{{"X-1", "careless"}}; !slices.Equal(d.Rules, want) {
		t.Errorf("Rules = %v, want %v", d.Rules, want)
	}
	if msg := d.Err.Error(); !strings.Contains(msg, "authority") || !strings.Contains(msg, "line 4") {
		t.Errorf("error %q does not say what failed where", msg)
	}
}

// Rule ids and titles are whatever the policy's annotations say.
func TestCustomRuleIDs(t *testing.T) {
	p, err := Load([]byte(`
permit (principal, action == Action::"statement", resource);

@id("no-writes") @rule("LOCAL-10") @title("no writes")
forbid (principal, action, resource) when { context.class == "write" };

@id("no-writes-either") @rule("LOCAL-10")
forbid (principal, action, resource) when { context.class == "ddl" };

@rule("LOCAL-2") @title("no weekends") forbid (principal, action, resource)
when { context.unit == "weekend" };

@rule("LOCAL-0") @title("unjudged") @fallback
forbid (principal, action, resource) when { false };
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{{"LOCAL-0", "unjudged"}, {"LOCAL-2", "no weekends"}, {"LOCAL-10", "no writes"}}
	if got := p.Rules(); !slices.Equal(got, want) {
		t.Errorf("Rules() = %v, want %v", got, want)
	}
	r := &Request{Phase: PhaseStatement, Unit: "weekend", Class: "ddl"}
	if d := p.Decide(r); !slices.Equal(d.Rules, []Rule{{"LOCAL-2", "no weekends"}, {"LOCAL-10", "no writes"}}) {
		t.Errorf("Decide = %v", d.Rules)
	}
	r = &Request{Phase: PhaseResult, Class: "read"}
	if d := p.Decide(r); d.Allow || !slices.Equal(d.Rules, []Rule{{"LOCAL-0", "unjudged"}}) {
		t.Errorf("nothing permits: Decide = %+v, want LOCAL-0", d)
	}
	r.Phase = PhaseStatement
	if d := p.Decide(r); !d.Allow || len(d.Rules) != 0 {
		t.Errorf("permitted: Decide = %+v, want allow", d)
	}
}

func TestDecideConcurrent(t *testing.T) {
	p := Default()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				r := lawful(PhaseResult)
				r.ResultSubjects = int64(i) // 0..3 allowed, 4..7 bulk
				d := p.Decide(r)
				if d.Allow != (i <= 3) {
					t.Errorf("ResultSubjects %d: allow %v", i, d.Allow)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkDecide measures a lawful person-level read. "repeated" asks the
// same question every time, as a prepared statement does, and is answered
// from the memo; "distinct" changes the coverage every time, so every
// decision builds a Cedar request and evaluates the policy.
func BenchmarkDecide(b *testing.B) {
	p := Default()
	for _, phase := range []Phase{PhaseStatement, PhaseResult} {
		for _, distinct := range []bool{false, true} {
			name := phase.String() + "/repeated"
			if distinct {
				name = phase.String() + "/distinct"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					r := lawful(phase)
					r.Datasets = []Dataset{persons, addresses}
					r.Coverage.UnitCap = 1 << 62
					for pb.Next() {
						if distinct {
							r.Coverage.UnitSubjects++
						}
						if !p.Decide(r).Allow {
							b.Fatal("denied")
						}
					}
				})
			})
		}
	}
}
