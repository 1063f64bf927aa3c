package seal

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	id1, r1, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	id2, r2, _ := NewIdentity()
	outsider, _, _ := NewIdentity()
	s, err := NewSealer([]string{r1, r2})
	if err != nil {
		t.Fatal(err)
	}
	detail := []byte(`{"sql":"SELECT religion FROM persons"}`)
	sealed, err := s.Seal(detail)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "religion") {
		t.Fatal("the sealed detail shows its plaintext")
	}
	c := sha256.Sum256(detail)
	for _, id := range []string{id1, id2} {
		got, err := Open(sealed, strings.NewReader(id), c)
		if err != nil || string(got) != string(detail) {
			t.Fatalf("overseer could not open: %v %q", err, got)
		}
	}
	if _, err := Open(sealed, strings.NewReader(outsider), c); err == nil {
		t.Fatal("an outsider's identity opened the detail")
	}
	var wrong [32]byte
	if _, err := Open(sealed, strings.NewReader(id1), wrong); !errors.Is(err, ErrMismatch) {
		t.Fatalf("a wrong commitment: %v", err)
	}
	if _, err := NewSealer(nil); err == nil {
		t.Fatal("a sealer with no recipients")
	}
	if _, err := NewSealer([]string{"age1nope"}); err == nil {
		t.Fatal("a bad recipient was accepted")
	}
}
