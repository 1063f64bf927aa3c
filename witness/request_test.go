package witness

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

func TestCosignatureKey(t *testing.T) {
	// Enough keys that some have a + in their base64.
	for range 30 {
		skey, vkey, err := note.GenerateKey(rand.Reader, "witness.example/w")
		if err != nil {
			t.Fatal(err)
		}
		got, err := cosignatureKey(skey, "witness.example/w")
		if err != nil {
			t.Fatalf("%s: %v", skey, err)
		}
		want, _ := fnote.VKeyToCosignatureV1(vkey)
		if got != want {
			t.Fatalf("cosignature key of %s is %s, want %s", vkey, got, want)
		}
	}
	if _, err := cosignatureKey("PRIVATE+KEY+w+00000000+AQ==", "w"); err == nil {
		t.Error("accepted a short key")
	}
}

var hash32 = strings.Repeat("A", 43) + "="

func TestParseRequest(t *testing.T) {
	cp := "log.example\n5\n" + hash32 + "\n\n— log.example AAAAAAAAAA==\n"
	old, proof, got, err := parseRequest([]byte("old 3\n" + hash32 + "\n" + hash32 + "\n\n" + cp))
	if err != nil || old != 3 || len(proof) != 2 || string(got) != cp {
		t.Fatalf("parseRequest: %d %d %q %v", old, len(proof), got, err)
	}
	if !bytes.Equal(formatRequest(old, proof, got), []byte("old 3\n"+hash32+"\n"+hash32+"\n\n"+cp)) {
		t.Error("formatRequest doesn't round-trip")
	}
	for name, body := range map[string]string{
		"empty":          "",
		"no old":         "\n\n" + cp,
		"old spelled":    "Old 3\n\n" + cp,
		"leading zero":   "old 03\n\n" + cp,
		"negative":       "old -3\n\n" + cp,
		"two spaces":     "old  3\n\n" + cp,
		"no blank":       "old 3\n" + cp,
		"no checkpoint":  "old 3\n\n",
		"short hash":     "old 3\nAAAA\n\n" + cp,
		"long hash":      "old 3\n" + strings.Repeat("A", 44) + "AAAA\n\n" + cp,
		"unpadded hash":  "old 3\n" + strings.Repeat("A", 43) + "\n\n" + cp,
		"pad bits":       "old 3\n" + strings.Repeat("A", 42) + "B=\n\n" + cp,
		"CRLF":           "old 3\r\n\r\n" + cp,
		"64 proof lines": "old 3\n" + strings.Repeat(hash32+"\n", 64) + "\n" + cp,
		"too large":      "old 3\n\n" + cp + strings.Repeat("x", maxBody),
	} {
		if _, _, _, err := parseRequest([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	if _, p, _, err := parseRequest([]byte("old 3\n" + strings.Repeat(hash32+"\n", 63) + "\n" + cp)); err != nil || len(p) != 63 {
		t.Errorf("63 proof lines: %v", err)
	}
}

func FuzzParseRequest(f *testing.F) {
	cp := "log.example\n5\n" + hash32 + "\n\n— log.example AAAAAAAAAA==\n"
	f.Add([]byte("old 0\n\n" + cp))
	f.Add([]byte("old 3\n" + hash32 + "\n\n" + cp))
	f.Add([]byte("old 18446744073709551615\n" + hash32 + "\n" + hash32 + "\n\nx"))
	f.Fuzz(func(t *testing.T, body []byte) {
		old, proof, cp, err := parseRequest(body)
		if err != nil {
			return
		}
		if got := formatRequest(old, proof, cp); !bytes.Equal(got, body) {
			t.Fatalf("format(parse(x)) != x:\n%q\n%q", body, got)
		}
	})
}
