package main

import (
	"fmt"
	"time"

	"github.com/custodes/custodes/internal/synthlog"
	"github.com/custodes/custodes/record"
)

// statementEntry is an allowed one-subject read, the size of what the
// gateway appends for a pgbench transaction.
func statementEntry(i uint64) *record.Entry {
	return &record.Entry{
		Kind: record.KindStatement, Time: synthlog.Start.Add(time.Duration(i) * time.Millisecond),
		Tenant: "agency", Unit: "newark", Analyst: fmt.Sprintf("an%014x", synthlog.Mix(i)%(1<<20)),
		AuthorityKind: "judicial_warrant", Authority: synthlog.Authority, Class: "read",
		Datasets: []string{"public.persons"}, Decision: "allow", Rows: 1, Subjects: 1,
		SubjectTokens: []string{fmt.Sprintf("%016x", synthlog.Mix(i^0x5eed))}, Policy: "p1",
		Detail: [32]byte{1, byte(i), byte(i >> 8), byte(i >> 16)},
	}
}
