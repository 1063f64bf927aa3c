package authority

import (
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// A fixed approver for the fuzzers, so that saved inputs stay meaningful.
const (
	fuzzSKey = "PRIVATE+KEY+fuzz-approver+a4a0c765+AabWnGfxiyRC28fJnnvMaZPwxOraF3kutBXkqc1y2x1y"
	fuzzVKey = "fuzz-approver+a4a0c765+AbtPbKgsJDl3KzuYvuJDFotzS0VPFc5Se61MS12gYkqI"
)

// FuzzParse: Parse of any text never panics, and what it accepts is
// canonical (it re-encodes to the same text).
func FuzzParse(f *testing.F) {
	s := &Statement{ID: "W-1", Kind: "judicial_warrant", Reference: "CR 26-1", Tenant: "agency", Unit: "newark",
		Datasets: []string{"public.persons"}, Subjects: []int64{101, 102},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	text, err := s.Text()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(text)
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(text)
		if err != nil {
			return
		}
		again, err := s.Text()
		if err != nil || again != text {
			t.Fatalf("accepted a text that does not re-encode to itself: %v", err)
		}
	})
}

// FuzzVerify: Verify and VerifyRevocation of any bytes never panic, and
// accept only what the approver signed.
func FuzzVerify(f *testing.F) {
	signer, err := note.NewSigner(fuzzSKey)
	if err != nil {
		f.Fatal(err)
	}
	vs, err := Verifiers([]string{fuzzVKey})
	if err != nil {
		f.Fatal(err)
	}
	s := &Statement{ID: "W-1", Kind: "judicial_warrant", Reference: "CR 26-1", Tenant: "agency", Unit: "newark",
		Datasets: []string{"public.persons"}, Subjects: []int64{101},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	signed, err := Sign(s, signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	rev, err := SignRevocation(&Revocation{ID: "W-1", Reason: "withdrawn by the court"}, signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rev)
	f.Fuzz(func(t *testing.T, b []byte) {
		if st, who, err := Verify(b, vs); err == nil {
			if who != "fuzz-approver" {
				t.Fatalf("verified as %q", who)
			}
			if again, err := Sign(st, signer); err != nil || len(again) == 0 {
				t.Fatalf("a verified statement cannot be signed again: %v", err)
			}
		}
		if r, who, err := VerifyRevocation(b, vs); err == nil && (who != "fuzz-approver" || r.ID == "") {
			t.Fatalf("verified revocation %+v as %q", r, who)
		}
	})
}
