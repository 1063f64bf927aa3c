package authority

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func TestSignVerify(t *testing.T) {
	skey, vkey, _ := note.GenerateKey(rand.Reader, "court-liaison")
	other, otherV, _ := note.GenerateKey(rand.Reader, "mallory")
	signer, _ := note.NewSigner(skey)
	mallory, _ := note.NewSigner(other)
	vs, err := Verifiers([]string{vkey})
	if err != nil {
		t.Fatal(err)
	}
	s := &Statement{ID: "W-1", Kind: "judicial_warrant", Reference: "CR 26-1 (D.N.J.)", Tenant: "agency", Unit: "newark",
		Datasets: []string{"public.persons", "public.case_files"}, Subjects: []int64{103, 101, 102},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	signed, err := Sign(s, signer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(signed), "subjects 101,102,103\n") || !strings.Contains(string(signed), "datasets public.case_files,public.persons\n") {
		t.Fatalf("not canonical:\n%s", signed)
	}
	got, who, err := Verify(signed, vs)
	if err != nil || who != "court-liaison" || got.ID != "W-1" || len(got.Subjects) != 3 {
		t.Fatalf("Verify: %+v %q %v", got, who, err)
	}
	// Another key, or a changed byte, does not verify.
	forged, _ := Sign(s, mallory)
	if _, _, err := Verify(forged, vs); err == nil {
		t.Fatal("an unregistered approver's authority verified")
	}
	tampered := []byte(strings.Replace(string(signed), "subjects 101,102,103", "subjects 101,102,104", 1))
	if _, _, err := Verify(tampered, vs); err == nil {
		t.Fatal("a changed authority verified")
	}
	_ = otherV
	// Revocations.
	rev, err := SignRevocation(&Revocation{ID: "W-1", Reason: "case closed"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := VerifyRevocation(rev, vs)
	if err != nil || r.ID != "W-1" || r.Reason != "case closed" {
		t.Fatalf("revocation: %+v %v", r, err)
	}
	if _, _, err := VerifyRevocation(signed, vs); err == nil {
		t.Fatal("an authority verified as a revocation")
	}
}

func TestCheck(t *testing.T) {
	base := Statement{ID: "L-2", Kind: "administrative", Reference: "lead", Tenant: "agency", Unit: "newark",
		Datasets: []string{"*"}, MaxSubjects: 5, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(100, 0)}
	if err := base.Check(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Statement){
		"bad kind":       func(s *Statement) { s.Kind = "hunch" },
		"both scopes":    func(s *Statement) { s.Subjects = []int64{1} },
		"no scope":       func(s *Statement) { s.MaxSubjects = 0 },
		"window":         func(s *Statement) { s.NotAfter = s.NotBefore },
		"star and more":  func(s *Statement) { s.Datasets = []string{"*", "public.persons"} },
		"bad dataset":    func(s *Statement) { s.Datasets = []string{"persons"} },
		"control in ref": func(s *Statement) { s.Reference = "a\nb" },
	} {
		s := base
		mut(&s)
		if err := s.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	text, _ := base.Text()
	if _, err := Parse(text); err != nil {
		t.Fatalf("Parse(Text()): %v", err)
	}
	if _, err := Parse(strings.Replace(text, "max-subjects 5", "max-subjects 05", 1)); err == nil {
		t.Fatal("a non-canonical statement parsed")
	}
}
