package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/custodes/custodes/record"
)

// The generated log is six months of one tenant with eight units and
// 100,000 subjects, nine in ten entries statements, like report's
// TestMillion: its content is a function of the entry number alone.
const (
	genUnits      = 8
	genPopulation = 100_000
	genSpan       = 180 * 24 * time.Hour
)

var genStart = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// splitmix64 is a fixed, well-mixed function of x.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

const genAuthority = "9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e"

var authorityKinds = []string{"judicial_warrant", "court_order", "subpoena", "administrative"}

// statementEntry is an allowed one-subject read, the size of what the
// gateway appends for a pgbench transaction.
func statementEntry(i uint64) *record.Entry {
	return &record.Entry{
		Kind: record.KindStatement, Time: genStart.Add(time.Duration(i) * time.Millisecond),
		Tenant: "agency", Unit: "newark", Analyst: fmt.Sprintf("an%014x", splitmix64(i)%(1<<20)),
		AuthorityKind: "judicial_warrant", Authority: genAuthority, Class: "read",
		Datasets: []string{"public.persons"}, Decision: "allow", Rows: 1, Subjects: 1,
		SubjectTokens: []string{fmt.Sprintf("%016x", splitmix64(i^0x5eed))}, Policy: "p1",
		Detail: [32]byte{1, byte(i), byte(i >> 8), byte(i >> 16)},
	}
}

func kindOf(i uint64) record.Kind {
	switch {
	case i%1000 == 0:
		return record.KindStorageAttestation
	case i%5000 == 1:
		return record.KindAuthorityIssued
	case i%20000 == 2:
		return record.KindAuthorityRevoked
	case i%100000 == 3:
		return record.KindSuspension
	case i%100000 == 4:
		return record.KindResumption
	case i%250000 == 5:
		return record.KindPolicyPublished
	case i%997 == 6:
		return record.KindLoginFailure
	case i%1009 == 7:
		return record.KindAlert
	}
	return record.KindStatement
}

// bigEntry is entry i of an n-entry log.
func bigEntry(i, n uint64) *record.Entry {
	e := &record.Entry{Kind: kindOf(i), Tenant: "agency", Unit: fmt.Sprintf("unit-%d", i%genUnits),
		Time: genStart.Add(time.Duration(float64(genSpan) * float64(i) / float64(n))).Truncate(time.Microsecond)}
	switch e.Kind {
	case record.KindStatement:
		e.Analyst = fmt.Sprintf("an%014x", splitmix64(i)%(1<<20))
		e.AuthorityKind, e.Authority = authorityKinds[i%4], genAuthority
		e.Class, e.Datasets, e.Policy = "read", []string{"public.persons", "public.case_files"}, "p1"
		e.Detail = [32]byte{1, byte(i), byte(i >> 8), byte(i >> 16)}
		if i%5 == 0 {
			e.Decision, e.Rules, e.Subjects = "deny", []string{fmt.Sprintf("AUP-%d", 1+i%10)}, 1+i%40
			break
		}
		e.Decision = "allow"
		k := 1 + i%3
		e.Rows, e.Subjects = k, k
		for j := range k {
			person := splitmix64(i<<2|j) % genPopulation
			if tok := fmt.Sprintf("%016x", splitmix64(person^0x5eed)); !slices.Contains(e.SubjectTokens, tok) {
				e.SubjectTokens = append(e.SubjectTokens, tok)
			}
		}
	case record.KindStorageAttestation:
		grow := 1 + 2*float64(i)/float64(n)
		e.Unit = ""
		e.Attrs = []record.Attr{
			{Key: "bytes.public.case_files", Value: fmt.Sprint(uint64(4e6 * grow))},
			{Key: "bytes.public.persons", Value: fmt.Sprint(uint64(8e7 * grow))},
			{Key: "rows.public.case_files", Value: fmt.Sprint(uint64(2e4 * grow))},
			{Key: "rows.public.persons", Value: fmt.Sprint(uint64(1e5 * grow))},
		}
	case record.KindAuthorityIssued, record.KindAuthorityRevoked:
		e.AuthorityKind, e.Authority = authorityKinds[i%4], genAuthority
	case record.KindSuspension, record.KindResumption:
		e.Attrs = []record.Attr{{Key: "reason", Value: "test of " + string(e.Kind)}}
	case record.KindPolicyPublished:
		e.Unit, e.Policy = "", fmt.Sprintf("p%d", i/250000+1)
		e.Rules = []string{"AUP-1", "AUP-2", "AUP-3"}
		e.Attrs = []record.Attr{{Key: "version", Value: fmt.Sprint(i/250000 + 1)}}
	case record.KindAlert:
		e.Rules = []string{"AUP-6"}
	}
	return e
}
