package record

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts is
// canonical: it re-marshals to the same bytes and parses to the same entry.
// Seeds are the test vectors plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, v := range vectors {
		b, err := v.entry.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			if e != nil {
				t.Fatal("Parse returned an entry and an error")
			}
			return
		}
		m, err := e.Marshal()
		if err != nil {
			t.Fatalf("Parse accepted what Marshal rejects: %v\n%q", err, b)
		}
		if !bytes.Equal(m, b) {
			t.Fatalf("Marshal(Parse(b)) != b\n got %q\nwant %q", m, b)
		}
		e2, err := Parse(m)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("Parse(Marshal(e)) = %+v, %v; want %+v", e2, err, e)
		}
	})
}
