package demodata

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// generate returns every row of every table, by table name.
func generate(t *testing.T, n int64) map[string][][]any {
	t.Helper()
	g := newGenerator(n)
	out := make(map[string][][]any)
	for _, tb := range tables {
		calls := 0
		next := g.rows(tb, func() { calls++ })
		for {
			row, err := next()
			if err != nil {
				t.Fatal(err)
			}
			if row == nil {
				break
			}
			if len(row) != len(tb.columns) {
				t.Fatalf("%s: row has %d values for %d columns", tb.name, len(row), len(tb.columns))
			}
			out[tb.name] = append(out[tb.name], row)
		}
		if calls != len(out[tb.name]) {
			t.Errorf("%s: onRow called %d times for %d rows", tb.name, calls, len(out[tb.name]))
		}
		if c := newGenerator(n).count(tb); c != int64(len(out[tb.name])) {
			t.Errorf("%s: count says %d rows, rows yields %d", tb.name, c, len(out[tb.name]))
		}
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a, b := generate(t, 2500), generate(t, 2500)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two generators for the same n made different rows")
	}
	c := generate(t, 2600)
	if !reflect.DeepEqual(a["addresses"], c["addresses"][:len(a["addresses"])]) {
		t.Error("addresses depend on n, want a pure function of the address id")
	}

	// A table generated alone, with nothing cached from the others, is the same table.
	for _, tb := range tables {
		var alone [][]any
		next := newGenerator(2500).rows(tb, func() {})
		for row, _ := next(); row != nil; row, _ = next() {
			alone = append(alone, row)
		}
		if !reflect.DeepEqual(alone, a[tb.name]) {
			t.Errorf("%s generated alone differs from %s generated after the others", tb.name, tb.name)
		}
	}
}

// TestGolden pins the output, so that a change in the generator, the vocabularies or
// math/rand/v2 shows up as a test failure rather than as a silent change of the demo.
// If the change is intended, update the digest.
func TestGolden(t *testing.T) {
	rows := generate(t, 300)
	h := sha256.New()
	for _, tb := range tables {
		for _, row := range rows[tb.name] {
			fmt.Fprintf(h, "%s %v\n", tb.name, row)
		}
	}
	const want = "1d4288390358350ce21c9a6ddfe3750301bdcc0208227a488582141775dea963"
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != want {
		t.Errorf("digest of the data for 300 persons = %s, want %s", got, want)
	}
}

func TestInvariants(t *testing.T) {
	const n = 20000
	rows := generate(t, n)
	addresses := int64(len(rows["addresses"]))
	if addresses != n/2 {
		t.Errorf("%d addresses, want %d", addresses, n/2)
	}
	if got := len(rows["persons"]); got != n {
		t.Errorf("%d persons, want %d", got, n)
	}
	for i, row := range rows["persons"] {
		if row[0].(int64) != int64(i+1) {
			t.Fatalf("person %d has id %v, want ids 1..n in order", i+1, row[0])
		}
		if a := row[5].(int64); a < 1 || a > addresses {
			t.Fatalf("person %d lives at address %d, outside 1..%d", i+1, a, addresses)
		}
		dob := row[2].(time.Time)
		if age := reference.Sub(dob).Hours() / 24 / 365.25; age < 18 || age > 87 {
			t.Fatalf("person %d is %.1f years old", i+1, age)
		}
	}
	for _, row := range rows["addresses"] {
		lat, lon := row[4].(float64), row[5].(float64)
		if lat < 24 || lat > 49 || lon < -125 || lon > -66 {
			t.Fatalf("address %v at %v,%v is outside the contiguous US", row[0], lat, lon)
		}
	}

	// Every table keyed by person: subjects in range, ids unique and ascending.
	people := map[string]map[int64]int{}
	for _, tb := range []string{"location_pings", "utility_accounts", "social_posts", "case_files"} {
		people[tb] = map[int64]int{}
		ids := map[any]bool{}
		for _, row := range rows[tb] {
			p := row[1].(int64)
			if p < 1 || p > n {
				t.Fatalf("%s row %v is about person %d, outside 1..%d", tb, row[0], p, n)
			}
			if ids[row[0]] {
				t.Fatalf("%s: duplicate id %v", tb, row[0])
			}
			ids[row[0]] = true
			people[tb][p]++
		}
	}
	for p := int64(1); p <= n; p++ {
		if k := people["location_pings"][p]; k < 3 || k > 8 {
			t.Fatalf("person %d has %d pings, want 3–8", p, k)
		}
	}
	for _, row := range rows["location_pings"] {
		at := row[2].(time.Time)
		if !at.Before(reference) || at.Before(reference.AddDate(0, 0, -90)) {
			t.Fatalf("ping %v observed at %v, want within 90 days before %v", row[0], at, reference)
		}
		lat, lon := row[3].(float64), row[4].(float64)
		if lat < 24 || lat > 49 || lon < -125 || lon > -66 {
			t.Fatalf("ping %v at %v,%v is outside the contiguous US", row[0], lat, lon)
		}
	}
	for _, row := range rows["utility_accounts"] {
		if a := row[2].(int64); a < 1 || a > addresses {
			t.Fatalf("account %v at address %d, outside 1..%d", row[0], a, addresses)
		}
	}

	for _, s := range warrantSubjects {
		for tb, subjects := range people {
			if subjects[s] == 0 {
				t.Errorf("warrant subject %d has no rows in %s", s, tb)
			}
		}
	}

	shares := map[string][2]float64{ // plausible share of persons with rows
		"utility_accounts": {0.82, 0.88},
		"social_posts":     {0.08, 0.12},
		"case_files":       {0.02, 0.04},
	}
	for tb, want := range shares {
		if got := float64(len(people[tb])) / n; got < want[0] || got > want[1] {
			t.Errorf("%.3f of persons have %s, want %.2f–%.2f", got, tb, want[0], want[1])
		}
	}
}

func TestWarrantSubjectsInSmallDemo(t *testing.T) {
	// With fewer than 2001 persons, 2001 simply isn't there; 101–103 still are everywhere.
	rows := generate(t, 150)
	for _, tb := range []string{"location_pings", "utility_accounts", "social_posts", "case_files"} {
		seen := map[int64]bool{}
		for _, row := range rows[tb] {
			seen[row[1].(int64)] = true
		}
		for _, s := range []int64{101, 102, 103} {
			if !seen[s] {
				t.Errorf("warrant subject %d has no rows in %s", s, tb)
			}
		}
		if seen[2001] {
			t.Errorf("%s has rows about person 2001 of 150", tb)
		}
	}
}

func TestDatasetsMatchTables(t *testing.T) {
	ds := Datasets()
	if len(ds) != len(tables) {
		t.Fatalf("%d datasets for %d tables", len(ds), len(tables))
	}
	for _, d := range ds {
		var tb *table
		for _, x := range tables {
			if "public."+x.name == d.Table {
				tb = x
			}
		}
		if tb == nil {
			t.Errorf("dataset %s has no table", d.Table)
			continue
		}
		for _, c := range append([]string{d.SubjectKey}, d.Protected...) {
			if c == "" {
				continue
			}
			found := false
			for _, col := range tb.columns {
				found = found || col == c
			}
			if !found {
				t.Errorf("dataset %s names column %q, which the table lacks", d.Table, c)
			}
		}
	}
	Datasets()[0].Protected[0] = "changed"
	if Datasets()[0].Protected[0] != "religion" {
		t.Error("a caller's change to Datasets() leaked into the next call")
	}
}
