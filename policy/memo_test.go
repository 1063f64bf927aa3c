package policy

import (
	"reflect"
	"slices"
	"testing"
)

// Every field of Request must reach the memo key, or two different
// requests would share a decision.
func TestMemoKeyCoversEveryField(t *testing.T) {
	base := func() *Request {
		r := lawful(PhaseResult)
		r.Datasets = []Dataset{persons}
		r.Unjudged, r.ProtectedColumns, r.Hazards = []string{"a"}, []string{"b"}, []string{"c"}
		return r
	}
	want := string(appendKey(nil, base()))
	checked := 0
	check := func(path string, mutate func(r *Request)) {
		r := base()
		mutate(r)
		if string(appendKey(nil, r)) == want {
			t.Errorf("changing %s does not change the memo key", path)
		}
		checked++
	}
	var visit func(path string, get func(*Request) reflect.Value, typ reflect.Type)
	visit = func(path string, get func(*Request) reflect.Value, typ reflect.Type) {
		switch {
		case typ.Kind() == reflect.Struct:
			for i := range typ.NumField() {
				f := typ.Field(i)
				visit(path+"."+f.Name, func(r *Request) reflect.Value { return get(r).Field(i) }, f.Type)
			}
		case typ.Kind() == reflect.Pointer:
			check(path+" = nil", func(r *Request) { get(r).SetZero() })
			visit(path, func(r *Request) reflect.Value { return get(r).Elem() }, typ.Elem())
		case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
			check(path+" longer", func(r *Request) { v := get(r); v.Set(reflect.Append(v, reflect.Zero(typ.Elem()))) })
			visit(path+"[0]", func(r *Request) reflect.Value { return get(r).Index(0) }, typ.Elem())
		case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.String:
			check(path+" longer", func(r *Request) { v := get(r); v.Set(reflect.Append(v, reflect.ValueOf("x"))) })
			check(path+"[0]", func(r *Request) { v := get(r).Index(0); v.SetString(v.String() + "x") })
		case typ.Kind() == reflect.String:
			check(path, func(r *Request) { v := get(r); v.SetString(v.String() + "x") })
		case typ.Kind() == reflect.Bool:
			check(path, func(r *Request) { v := get(r); v.SetBool(!v.Bool()) })
		case typ.Kind() == reflect.Int || typ.Kind() == reflect.Int64:
			check(path, func(r *Request) { v := get(r); v.SetInt(v.Int() + 1) })
		default:
			t.Errorf("%s: the test does not know how to change a %v", path, typ)
		}
	}
	visit("Request", func(r *Request) reflect.Value { return reflect.ValueOf(r).Elem() }, reflect.TypeFor[Request]())
	if checked < 30 {
		t.Errorf("only %d fields checked", checked)
	}
}

func TestMemoKeyInjective(t *testing.T) {
	a := &Request{Phase: PhaseStatement, Tenant: "ab", Unit: "c"}
	b := &Request{Phase: PhaseStatement, Tenant: "a", Unit: "bc"}
	c := &Request{Phase: PhaseStatement, Hazards: []string{"x", "y"}}
	d := &Request{Phase: PhaseStatement, Hazards: []string{"xy"}}
	if string(appendKey(nil, a)) == string(appendKey(nil, b)) || string(appendKey(nil, c)) == string(appendKey(nil, d)) {
		t.Error("different requests share a memo key")
	}
}

// A memoised decision is the decision, and callers cannot change it.
func TestMemoHit(t *testing.T) {
	p, err := Load(defaultText) // a fresh, empty memo
	if err != nil {
		t.Fatal(err)
	}
	r := lawful(PhaseResult)
	r.ResultSubjects, r.WholeRow = 4, true
	first := p.Decide(r)
	first.Rules[0] = Rule{ID: "tampered"}
	if len(p.memo.m) != 1 {
		t.Fatalf("memo holds %d decisions, want 1", len(p.memo.m))
	}
	second := p.Decide(r)
	if want := []string{"AUP-5", "AUP-3"}; second.Allow || !slices.Equal(ruleIDs(second), want) {
		t.Errorf("memoised decision = %+v, want deny %v", second, want)
	}
	r.WholeRow = false
	if third := p.Decide(r); !slices.Equal(ruleIDs(third), []string{"AUP-3"}) {
		t.Errorf("changed request got %v", ruleIDs(third))
	}
	for i := range memoSize + 10 {
		r.Coverage.UnitSubjects = int64(i)
		p.Decide(r)
	}
	if n := len(p.memo.m); n > memoSize {
		t.Errorf("memo grew to %d, bound is %d", n, memoSize)
	}
}

// Errors are not memoised: they are rare, and each is reported afresh.
func TestMemoSkipsErrors(t *testing.T) {
	p, err := Load([]byte(`permit (principal, action, resource);
@rule("X-1") @title("careless") @fallback
forbid (principal, action, resource) when { context.authority.kind == "x" };`))
	if err != nil {
		t.Fatal(err)
	}
	r := &Request{Phase: PhaseStatement}
	for range 2 {
		if d := p.Decide(r); d.Allow || d.Err == nil {
			t.Errorf("Decide = %+v, want a denial with an error", d)
		}
	}
	if len(p.memo.m) != 0 {
		t.Errorf("memo holds %d decisions, want none", len(p.memo.m))
	}
}
