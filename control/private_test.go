package control

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func samplePrivate() *Private {
	p := &Private{Sealed: []byte("sealed detail"), Tenant: "agency", Unit: "newark",
		Tokens: []string{"0123456789abcdef", "fedcba9876543210"}, Seen: time.Unix(1764633600, 123456789).UTC()}
	for i := range p.Commitment {
		p.Commitment[i] = byte(i)
	}
	return p
}

func TestPrivateRoundTrip(t *testing.T) {
	for _, p := range []*Private{samplePrivate(), {Sealed: []byte{1}, Tenant: "t", Seen: time.Unix(0, 1).UTC()}} {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParsePrivate(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("round trip: got %+v, want %+v", got, p)
		}
		// Every truncation and any trailing byte is refused.
		for i := range len(b) {
			if _, err := ParsePrivate(b[:i]); err == nil {
				t.Errorf("a record cut to %d of %d bytes parsed", i, len(b))
			}
		}
		if _, err := ParsePrivate(append(bytes.Clone(b), 0)); err == nil {
			t.Error("a record with a trailing byte parsed")
		}
	}
}

// Journals written before version 2 hold JSON, and must still be read.
func TestPrivateVersion1(t *testing.T) {
	p := samplePrivate()
	b, err := json.Marshal(privateJSON{V: 1, Commitment: p.Commitment[:], Sealed: p.Sealed,
		Tenant: p.Tenant, Unit: p.Unit, Tokens: p.Tokens, Seen: p.Seen})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePrivate(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("version 1: got %+v, want %+v", got, p)
	}
}

func TestPrivateRefused(t *testing.T) {
	for name, p := range map[string]*Private{
		"no tenant":       {Sealed: []byte{1}},
		"no detail":       {Tenant: "t"},
		"long unit":       {Sealed: []byte{1}, Tenant: "t", Unit: strings.Repeat("u", 256)},
		"empty token":     {Sealed: []byte{1}, Tenant: "t", Tokens: []string{""}},
		"oversize detail": {Sealed: make([]byte, MaxSealed+1), Tenant: "t"},
	} {
		if _, err := p.Marshal(); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	b, _ := samplePrivate().Marshal()
	b[0] = 3
	if _, err := ParsePrivate(b); err == nil {
		t.Error("version 3 parsed")
	}
}

func FuzzParsePrivate(f *testing.F) {
	b, _ := samplePrivate().Marshal()
	f.Add(b)
	j, _ := json.Marshal(privateJSON{V: 1, Commitment: make([]byte, 32), Sealed: []byte{1}, Tenant: "t"})
	f.Add(j)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePrivate(b)
		if err != nil {
			return
		}
		again, err := p.Marshal()
		if err != nil {
			if b[0] == '{' {
				return // version 1 allowed times version 2 cannot hold
			}
			t.Fatalf("parsed but cannot encode: %v", err)
		}
		q, err := ParsePrivate(again)
		if err != nil || !q.Seen.Equal(p.Seen) {
			t.Fatalf("re-encoding changed the record: %v", err)
		}
		q.Seen = p.Seen
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("re-encoding changed the record: %+v, then %+v", p, q)
		}
	})
}
