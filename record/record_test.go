package record

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func hash32(b byte) (h [32]byte) {
	for i := range h {
		h[i] = b + byte(i)
	}
	return h
}

const hexA = "9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e"

// sample is a fully populated statement entry.
func sample() *Entry {
	return &Entry{
		Kind:          KindStatement,
		Time:          time.Date(2026, 12, 1, 19, 0, 0, 123456000, time.UTC),
		Tenant:        "agency",
		Unit:          "newark",
		Analyst:       "a7f3c2e1d4b5a697",
		AuthorityKind: "judicial_warrant",
		Authority:     hexA,
		Class:         "read",
		Datasets:      []string{"public.persons", "public.case_files"},
		Decision:      "allow",
		Rows:          1,
		Subjects:      1,
		SubjectTokens: []string{"t:3fa1c2d4e5f60718"},
		Policy:        "3",
		Detail:        hash32(0x5d),
	}
}

func TestRoundTrip(t *testing.T) {
	entries := map[string]*Entry{"sample": sample()}
	for _, v := range vectors {
		entries[v.name] = v.entry
	}
	e := sample()
	e.Time = time.Date(2026, 12, 1, 20, 0, 0, 1000, time.FixedZone("EST", -5*3600))
	entries["non-UTC time"] = e
	for name, e := range entries {
		b, err := e.Marshal()
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: Parse(Marshal(e)): %v\n%s", name, err, b)
		}
		if !got.Time.Equal(e.Time) {
			t.Errorf("%s: time %v, want %v", name, got.Time, e.Time)
		}
		want := *e
		want.Time = got.Time // compared above, as an instant
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("%s: Parse(Marshal(e)) = %+v, want %+v", name, got, &want)
		}
		b2, err := got.Marshal()
		if err != nil || !bytes.Equal(b, b2) {
			t.Errorf("%s: Marshal(Parse(b)) = %q, %v; want %q", name, b2, err, b)
		}
	}
}

func TestMarshalSample(t *testing.T) {
	b, err := sample().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `custodes/entry/v1
kind statement
time 2026-12-01T19:00:00.123456Z
tenant agency
unit newark
analyst a7f3c2e1d4b5a697
authority-kind judicial_warrant
authority ` + hexA + `
class read
datasets public.persons,public.case_files
decision allow
rules
rows 1
subjects 1
subject-tokens t:3fa1c2d4e5f60718
policy 3
detail 5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c
`
	if string(b) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", b, want)
	}
}

func TestEmptyListsParseAsNil(t *testing.T) {
	e := sample()
	e.Datasets, e.Rules, e.SubjectTokens, e.Attrs = []string{}, []string{}, []string{}, []Attr{}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Datasets != nil || got.Rules != nil || got.SubjectTokens != nil || got.Attrs != nil {
		t.Errorf("empty lists parsed as %#v", got)
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, enc string }{
		{"press investigation", "press%20investigation"},
		{"100% sure", "100%25%20sure"},
		{"café", "caf%C3%A9"},
		{"line1\nline2\ttab", "line1%0Aline2%09tab"},
		{"a,b;c=d:e/f?g#h&i+j~", "a,b;c=d:e/f?g#h&i+j~"},
	} {
		if got := string(appendText(nil, tc.in)); got != tc.enc {
			t.Errorf("appendText(%q) = %q, want %q", tc.in, got, tc.enc)
		}
		if got, err := parseText(tc.enc); err != nil || got != tc.in {
			t.Errorf("parseText(%q) = %q, %v; want %q", tc.enc, got, err, tc.in)
		}
	}
	for _, bad := range []string{"%", "%2", "%2g", "%c3%a9", "%41", "%7E", "%FF", "%C3", "%1B[31m", "%7F", "%C2%85", "a b"} {
		if got, err := parseText(bad); err == nil {
			t.Errorf("parseText(%q) = %q, want error", bad, got)
		}
	}
}

func TestMarshalRejects(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*Entry)
	}{
		{"kind", func(e *Entry) { e.Kind = "query" }},
		{"time", func(e *Entry) { e.Time = time.Time{} }},
		{"time", func(e *Entry) { e.Time = e.Time.Add(1) }},
		{"time", func(e *Entry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"tenant", func(e *Entry) { e.Tenant = "" }},
		{"tenant", func(e *Entry) { e.Tenant = "agency x" }},
		{"unit", func(e *Entry) { e.Unit = "-newark" }},
		{"unit", func(e *Entry) { e.Unit = strings.Repeat("u", 65) }},
		{"analyst", func(e *Entry) { e.Analyst = "alice@agency" }},
		{"authority-kind", func(e *Entry) { e.AuthorityKind = "hunch" }},
		{"authority", func(e *Entry) { e.Authority = "W-DEMO-1" }},
		{"authority", func(e *Entry) { e.Authority = strings.ToUpper(hexA) }},
		{"authority", func(e *Entry) { e.Authority = strings.Repeat("0", 64) }},
		{"class", func(e *Entry) { e.Class = "read write" }},
		{"datasets", func(e *Entry) { e.Datasets = []string{"public.persons", ""} }},
		{"datasets", func(e *Entry) { e.Datasets = []string{"a,b"} }},
		{"datasets", func(e *Entry) { e.Datasets = []string{"x", "x"} }},
		{"decision", func(e *Entry) { e.Decision = "" }},
		{"decision", func(e *Entry) { e.Decision = "maybe" }},
		{"rules", func(e *Entry) { e.Rules = []string{"AUP 3"} }},
		{"subject-tokens", func(e *Entry) { e.SubjectTokens = []string{strings.Repeat("t", 129)} }},
		{"policy", func(e *Entry) { e.Policy = "v 3" }},
		{"attr", func(e *Entry) { e.Attrs = []Attr{{"reason", "x"}, {"cap", "5"}} }},
		{"attr", func(e *Entry) { e.Attrs = []Attr{{"cap", "5"}, {"cap", "6"}} }},
		{"attr", func(e *Entry) { e.Attrs = []Attr{{"", "5"}} }},
		{"attr reason", func(e *Entry) { e.Attrs = []Attr{{"reason", "bad \xff utf-8"}} }},
		{"attr reason", func(e *Entry) { e.Attrs = []Attr{{"reason", "escape \x1b[2J"}} }},
	} {
		e := sample()
		tc.edit(e)
		_, err := e.Marshal()
		if err == nil || !strings.Contains(err.Error(), "invalid "+tc.field+" ") {
			t.Errorf("Marshal with bad %s: err = %v, want one naming the field", tc.field, err)
		}
	}

	e := sample()
	e.Attrs = []Attr{{"reason", strings.Repeat("%", MaxSize/3)}}
	if _, err := e.Marshal(); err == nil {
		t.Error("Marshal of an oversized entry succeeded")
	}
}

func mustMarshal(t testing.TB, e *Entry) string {
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseRejects(t *testing.T) {
	e := sample()
	e.Attrs = []Attr{{"cap", "5"}, {"reason", "press investigation"}}
	valid := mustMarshal(t, e)
	if _, err := Parse([]byte(valid)); err != nil {
		t.Fatalf("the base entry doesn't parse: %v", err)
	}
	swap := func(a, b string) string {
		return strings.Replace(strings.Replace(strings.Replace(valid, a, "\x00", 1), b, a, 1), "\x00", b, 1)
	}
	for name, b := range map[string]string{
		"empty":                "",
		"no final newline":     strings.TrimSuffix(valid, "\n"),
		"trailing garbage":     valid + "garbage",
		"trailing blank line":  valid + "\n",
		"trailing key line":    valid + "kind statement\n",
		"CRLF":                 strings.ReplaceAll(valid, "\n", "\r\n"),
		"other version":        strings.Replace(valid, "custodes/entry/v1", "custodes/entry/v2", 1),
		"no header":            strings.TrimPrefix(valid, "custodes/entry/v1\n"),
		"unknown key":          strings.Replace(valid, "class read\n", "class read\ncolor blue\n", 1),
		"unknown key replaces": strings.Replace(valid, "class read\n", "colour read\n", 1),
		"wrong order":          swap("unit newark\n", "analyst a7f3c2e1d4b5a697\n"),
		"duplicate key":        strings.Replace(valid, "unit newark\n", "unit newark\nunit newark\n", 1),
		"missing key":          strings.Replace(valid, "policy 3\n", "", 1),
		"truncated":            valid[:len(valid)/2] + "\n",
		"duplicate attr":       strings.Replace(valid, "attr cap 5\n", "attr cap 5\nattr cap 5\n", 1),
		"unsorted attrs":       swap("attr cap 5\n", "attr reason press%20investigation\n"),
		"attr without name":    valid + "attr\n",
		"attr raw space":       strings.Replace(valid, "press%20investigation", "press investigation", 1),
		"attr lowercase hex":   strings.Replace(valid, "%20", "%2a", 1),
		"attr needless escape": strings.Replace(valid, "press", "%70ress", 1),
		"attr trailing space":  strings.Replace(valid, "attr cap 5", "attr cap ", 1),
		"empty with space":     strings.Replace(valid, "rules\n", "rules \n", 1),
		"double space":         strings.Replace(valid, "unit newark", "unit  newark", 1),
		"tab separator":        strings.Replace(valid, "unit newark", "unit\tnewark", 1),
		"bad utf-8":            strings.Replace(valid, "newark", "new\xffark", 1),
		"utf-8 not escaped":    strings.Replace(valid, "press%20investigation", "café", 1),
		"NUL":                  strings.Replace(valid, "newark", "new\x00ark", 1),
		"oversize":             mustMarshal(t, sample()) + "attr reason " + strings.Repeat("x", MaxSize) + "\n",
		"bad hex authority":    strings.Replace(valid, hexA, "9G"+hexA[2:], 1),
		"uppercase hex":        strings.Replace(valid, hexA, strings.ToUpper(hexA), 1),
		"short hex":            strings.Replace(valid, hexA, hexA[2:], 1),
		"zero detail":          strings.Replace(valid, "detail 5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c", "detail "+strings.Repeat("0", 64), 1),
		"time without micros":  strings.Replace(valid, "19:00:00.123456Z", "19:00:00Z", 1),
		"time with nanos":      strings.Replace(valid, "19:00:00.123456Z", "19:00:00.123456789Z", 1),
		"time offset":          strings.Replace(valid, "19:00:00.123456Z", "19:00:00.123456+00:00", 1),
		"time lowercase z":     strings.Replace(valid, "19:00:00.123456Z", "19:00:00.123456z", 1),
		"bad date":             strings.Replace(valid, "2026-12-01", "2026-02-30", 1),
		"leading zero":         strings.Replace(valid, "rows 1\n", "rows 01\n", 1),
		"plus sign":            strings.Replace(valid, "rows 1\n", "rows +1\n", 1),
		"negative":             strings.Replace(valid, "rows 1\n", "rows -1\n", 1),
		"overflow":             strings.Replace(valid, "rows 1\n", "rows 18446744073709551616\n", 1),
		"empty number":         strings.Replace(valid, "rows 1\n", "rows\n", 1),
		"empty list element":   strings.Replace(valid, "public.persons,public.case_files", "public.persons,,public.case_files", 1),
		"trailing comma":       strings.Replace(valid, "public.persons,public.case_files", "public.persons,", 1),
		"duplicate element":    strings.Replace(valid, "public.persons,public.case_files", "public.persons,public.persons", 1),
		"unknown kind":         strings.Replace(valid, "kind statement", "kind query", 1),
		"unknown auth kind":    strings.Replace(valid, "judicial_warrant", "hunch", 1),
		"no decision":          strings.Replace(valid, "decision allow", "decision", 1),
		"bad decision":         strings.Replace(valid, "decision allow", "decision Allow", 1),
		"no tenant":            strings.Replace(valid, "tenant agency", "tenant", 1),
	} {
		if got, err := Parse([]byte(b)); err == nil {
			t.Errorf("%s: Parse accepted %q as %+v", name, b, got)
		} else if !strings.HasPrefix(err.Error(), "record: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
	if len(mustMarshal(t, sample())+"attr reason "+strings.Repeat("x", MaxSize)+"\n") <= MaxSize {
		t.Fatal("oversize case is not oversized")
	}
}

// TestParseMaxSize checks the limit is exactly MaxSize, not one byte less.
func TestParseMaxSize(t *testing.T) {
	base := mustMarshal(t, sample())
	fill := MaxSize - len(base) - len("attr reason \n")
	e := sample()
	e.Attrs = []Attr{{"reason", strings.Repeat("x", fill)}}
	b, err := e.Marshal()
	if err != nil || len(b) != MaxSize {
		t.Fatalf("Marshal: %d bytes, %v; want %d", len(b), err, MaxSize)
	}
	if _, err := Parse(b); err != nil {
		t.Errorf("Parse of a MaxSize entry: %v", err)
	}
	e.Attrs[0].Value += "x"
	if _, err := e.Marshal(); err == nil {
		t.Error("Marshal of MaxSize+1 bytes succeeded")
	}
}
