// Package synthlog generates a large, realistic custodes log whose content
// is a function of the entry number alone: six months of one tenant with
// eight units and 100,000 subjects, nine in ten entries statements (one in
// five of them denied), with storage attestations, authorities,
// suspensions, policy versions, login failures and alerts between. The
// report's million-entry test and the bench harness's verify and report
// figures both measure over it.
package synthlog

import (
	"fmt"
	"slices"
	"time"

	"github.com/custodes/custodes/record"
)

// The generated tenant.
const (
	Units      = 8
	Population = 100_000
	Span       = 180 * 24 * time.Hour
	// Authority is the commitment every generated entry names.
	Authority = "9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e"
)

// Start is the time of entry 0.
var Start = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// Mix is splitmix64: a fixed, well-mixed function of x, so the log's
// content is a function of the entry number alone.
func Mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// KindOf is the kind of entry i.
func KindOf(i uint64) record.Kind {
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

// Entry is entry number i of an n-entry log.
func Entry(i, n uint64) *record.Entry {
	e := &record.Entry{Kind: KindOf(i), Tenant: "agency", Unit: fmt.Sprintf("unit-%d", i%Units),
		Time: Start.Add(time.Duration(float64(Span) * float64(i) / float64(n))).Truncate(time.Microsecond)}
	kinds := []string{"judicial_warrant", "court_order", "subpoena", "administrative"}
	switch e.Kind {
	case record.KindStatement:
		e.Analyst = fmt.Sprintf("an%014x", Mix(i)%(1<<20))
		e.AuthorityKind, e.Authority = kinds[i%4], Authority
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
			person := Mix(i<<2|j) % Population
			if tok := fmt.Sprintf("%016x", Mix(person^0x5eed)); !slices.Contains(e.SubjectTokens, tok) {
				e.SubjectTokens = append(e.SubjectTokens, tok)
			}
		}
	case record.KindStorageAttestation:
		grow := 1 + 2*float64(i)/float64(n) // triples over the six months
		e.Unit = ""
		e.Attrs = []record.Attr{
			{Key: "bytes.public.case_files", Value: fmt.Sprint(uint64(4e6 * grow))},
			{Key: "bytes.public.persons", Value: fmt.Sprint(uint64(8e7 * grow))},
			{Key: "rows.public.case_files", Value: fmt.Sprint(uint64(2e4 * grow))},
			{Key: "rows.public.persons", Value: fmt.Sprint(uint64(1e5 * grow))},
		}
	case record.KindAuthorityIssued, record.KindAuthorityRevoked:
		e.AuthorityKind, e.Authority = kinds[i%4], Authority
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
