package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite testdata/v1.txt from the vectors in vectors_test.go")

const vectorsFile = "testdata/v1.txt"

const vectorsComment = `custodes log entry format v1: test vectors (see the record package doc).

Each NAME.entry file below is a valid entry, byte for byte, and NAME.leaf is
its RFC 6962 Merkle leaf hash, SHA-256(0x00 || entry), in lowercase hex.
Each bad/NAME.entry file must be rejected by a conforming parser.
A txtar file always ends its members with a newline, so vectors that must
lack one are not here.

Regenerate with: go test ./record -run TestVectors -update
`

var vectors = []struct {
	name  string
	entry *Entry
}{
	{"statement-allow", sample()},
	{"statement-deny", &Entry{
		Kind: KindStatement, Time: time.Date(2026, 12, 1, 19, 0, 1, 0, time.UTC),
		Tenant: "agency", Unit: "newark", Analyst: "a7f3c2e1d4b5a697",
		AuthorityKind: "administrative", Authority: hexA, Class: "read",
		Datasets: []string{"public.persons"}, Decision: "deny", Rules: []string{"AUP-3"},
		Rows: 0, Subjects: 37, Policy: "3", Detail: hash32(0xa0),
		Attrs: []Attr{{"allowed", "5"}},
	}},
	{"login-failure", &Entry{
		Kind: KindLoginFailure, Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Tenant: "agency",
	}},
	{"authority-issued", &Entry{
		Kind: KindAuthorityIssued, Time: time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC),
		Tenant: "agency", Unit: "newark", AuthorityKind: "judicial_warrant", Authority: hexA,
		Datasets: []string{"public.persons", "public.addresses", "public.location_pings"},
		Subjects: 3, Detail: hash32(0x10),
		Attrs: []Attr{{"not_after", "2027-01-01T00:00:00Z"}, {"not_before", "2026-12-01T00:00:00Z"}},
	}},
	{"suspension", &Entry{
		Kind: KindSuspension, Time: time.Date(2026, 12, 2, 10, 0, 0, 999999000, time.UTC),
		Tenant: "agency", Unit: "houston", Policy: "3",
		Attrs: []Attr{{"reason", "Press report: \"mass surveillance\" of 100% of a district.\nSee café notes."}},
	}},
	{"storage-attestation", &Entry{
		Kind: KindStorageAttestation, Time: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC),
		Tenant: "agency", Datasets: []string{"public.persons"}, Rows: 100000,
		Attrs: []Attr{{"bytes", "18446744073709551615"}},
	}},
	{"policy-published", &Entry{
		Kind: KindPolicyPublished, Time: time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC),
		Tenant: "agency", Policy: "sha256:" + hexA[:16], Detail: hash32(0xc0),
		Attrs: []Attr{{"version", "3"}},
	}},
	{"alert", &Entry{
		Kind: KindAlert, Time: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC),
		Tenant: "agency", Unit: "newark", Rules: []string{"AUP-6"}, Subjects: 201,
		Attrs: []Attr{{"empty", ""}, {"window", "30d"}},
	}},
}

// badVectors are valid entries with one defect each.
func badVectors(t *testing.T) map[string]string {
	valid := mustMarshal(t, vectors[0].entry)
	rep := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("bad vector: %q not in the base entry", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	return map[string]string{
		"unknown-key":       rep("class read\n", "class read\ncolor blue\n"),
		"wrong-order":       rep("unit newark\nanalyst a7f3c2e1d4b5a697\n", "analyst a7f3c2e1d4b5a697\nunit newark\n"),
		"duplicate-key":     rep("unit newark\n", "unit newark\nunit newark\n"),
		"missing-key":       rep("policy 3\n", ""),
		"trailing-garbage":  valid + "garbage\n",
		"blank-line":        valid + "\n",
		"crlf":              strings.ReplaceAll(valid, "\n", "\r\n"),
		"bad-utf8":          rep("newark", "new\xffark"),
		"raw-utf8":          rep("newark", "nëwark"),
		"bad-hex":           rep(hexA, "9G"+hexA[2:]),
		"uppercase-hex":     rep(hexA, strings.ToUpper(hexA)),
		"zero-detail":       rep("detail 5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c", "detail "+strings.Repeat("0", 64)),
		"empty-with-space":  rep("rules\n", "rules \n"),
		"leading-zero":      rep("rows 1\n", "rows 01\n"),
		"time-no-micros":    rep("19:00:00.123456Z", "19:00:00Z"),
		"unknown-version":   rep("custodes/entry/v1", "custodes/entry/v2"),
		"attr-unsorted":     valid + "attr b 1\nattr a 1\n",
		"attr-raw-space":    valid + "attr reason two words\n",
		"attr-needless-esc": valid + "attr reason %41\n",
	}
}

func vectorsArchive(t *testing.T) []byte {
	a := &txtar.Archive{Comment: []byte(vectorsComment)}
	for _, v := range vectors {
		b := mustMarshal(t, v.entry)
		leaf := sha256.Sum256(append([]byte{0}, b...))
		a.Files = append(a.Files,
			txtar.File{Name: v.name + ".entry", Data: []byte(b)},
			txtar.File{Name: v.name + ".leaf", Data: []byte(hex.EncodeToString(leaf[:]) + "\n")})
	}
	bad := badVectors(t)
	for _, name := range slices.Sorted(maps.Keys(bad)) {
		a.Files = append(a.Files, txtar.File{Name: "bad/" + name + ".entry", Data: []byte(bad[name])})
	}
	return txtar.Format(a)
}

func TestVectors(t *testing.T) {
	want := vectorsArchive(t)
	if *update {
		if err := os.WriteFile(vectorsFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale or edited; regenerate it with -update and review the diff", vectorsFile)
	}

	// Check the file on its own terms too, as a verifier in another
	// language would read it.
	a := txtar.Parse(got)
	leaves := map[string]string{}
	entries := map[string][]byte{}
	nbad := 0
	for _, f := range a.Files {
		switch name := f.Name; {
		case strings.HasPrefix(name, "bad/"):
			nbad++
			if e, err := Parse(f.Data); err == nil {
				t.Errorf("%s: accepted as %+v", name, e)
			}
		case strings.HasSuffix(name, ".entry"):
			entries[strings.TrimSuffix(name, ".entry")] = f.Data
		case strings.HasSuffix(name, ".leaf"):
			leaves[strings.TrimSuffix(name, ".leaf")] = strings.TrimSpace(string(f.Data))
		default:
			t.Errorf("unexpected file %s", name)
		}
	}
	if len(entries) != len(vectors) || nbad == 0 {
		t.Fatalf("%d valid and %d bad vectors in the file, want %d and some", len(entries), nbad, len(vectors))
	}
	for _, v := range vectors {
		b := entries[v.name]
		e, err := Parse(b)
		if err != nil {
			t.Errorf("%s: %v", v.name, err)
			continue
		}
		if !reflect.DeepEqual(e, v.entry) {
			t.Errorf("%s: parsed as %+v, want %+v", v.name, e, v.entry)
		}
		m, _ := e.Marshal()
		if !bytes.Equal(m, b) {
			t.Errorf("%s: Marshal(Parse(b)) != b", v.name)
		}
		h := sha256.New()
		h.Write([]byte{0})
		h.Write(b)
		if got := hex.EncodeToString(h.Sum(nil)); got != leaves[v.name] {
			t.Errorf("%s: leaf hash %s, file says %s", v.name, got, leaves[v.name])
		}
	}
}
