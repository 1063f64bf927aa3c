package record

import (
	"testing"
	"time"
)

// benchEntry is what the gateway appends for one transaction of the
// performance harness's pgbench script.
func benchEntry() *Entry {
	return &Entry{
		Kind: KindStatement, Time: time.Date(2026, 12, 1, 19, 0, 0, 123456000, time.UTC),
		Tenant: "agency", Unit: "newark", Analyst: "a7f3c2e1d4b5a697",
		AuthorityKind: "judicial_warrant", Authority: "9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e",
		Class: "read", Datasets: []string{"public.persons"}, Decision: "allow", Rows: 1, Subjects: 1,
		SubjectTokens: []string{"3fa1c2d4e5f60718"}, Policy: "3",
		Detail: [32]byte{0x5d, 0x41, 1, 2, 3},
	}
}

func BenchmarkMarshal(b *testing.B) {
	e := benchEntry()
	out, err := e.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	enc, err := benchEntry().Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := Parse(enc)
		if err != nil {
			b.Fatal(err)
		}
		if e.Rows != 1 {
			b.Fatal("wrong entry")
		}
	}
}
