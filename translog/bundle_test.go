package translog

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateBundle = flag.Bool("update-bundle", false, "rewrite testdata/bundle.tlog-proof and testdata/bundle.vkey from a new log")

func proveDir(t *testing.T, dir string, index uint64) *Bundle {
	t.Helper()
	src, err := OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Prove(t.Context(), src, index)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProve(t *testing.T) {
	f := getFixture(t)
	// Both sides of a bundle boundary, and the partial bundle at the end.
	for _, i := range []uint64{0, 1, 255, 256, 511, 512, 599} {
		b := proveDir(t, f.dir, i)
		res, err := b.Verify(f.vkey)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if res.Size != fixtureSize || !bytes.HasPrefix(b.Entry, []byte("entry ")) {
			t.Errorf("entry %d: size %d, entry %q", i, res.Size, b.Entry)
		}
		enc, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseBundle(enc)
		if err != nil {
			t.Fatalf("entry %d: %v\n%s", i, err, enc)
		}
		again, _ := back.Marshal()
		if !bytes.Equal(enc, again) {
			t.Errorf("entry %d: encoding does not round-trip", i)
		}
	}
	src, _ := OpenSource(f.dir)
	if _, err := Prove(t.Context(), src, fixtureSize); err == nil {
		t.Error("proved an entry beyond the log")
	}
}

// TestProveTampered: Prove refuses to hand out a bundle that doesn't verify
// against the checkpoint, whatever the tiles or entries say.
func TestProveTampered(t *testing.T) {
	f := getFixture(t)
	dir := copyLog(t, f.dir)
	flip(t, filepath.Join(dir, "tile", "entries", "000"), -1) // entry 255's newline
	src, _ := OpenSource(dir)
	if _, err := Prove(t.Context(), src, 255); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Errorf("Prove over a flipped entry bundle: %v", err)
	}
}

func TestBundleVerifyRejects(t *testing.T) {
	f := getFixture(t)
	b := proveDir(t, f.dir, 300)
	_, otherV := testKey(t)
	check := func(name string, b *Bundle, vkey, reason string) {
		t.Helper()
		_, err := b.Verify(vkey)
		var ve *VerifyError
		if !errors.As(err, &ve) || !strings.Contains(ve.Reason, reason) {
			t.Errorf("%s: got %v, want a VerifyError about %q", name, err, reason)
		}
	}
	check("other key", b, otherV, "not a valid checkpoint signed by")

	other := *b
	other.Index = 301
	check("other index", &other, f.vkey, "differs from the signed root")

	other = *b
	other.Index = fixtureSize
	check("index beyond", &other, f.vkey, "beyond the checkpoint")

	other = *b
	other.Entry = []byte("entry 999999\n")
	check("other entry", &other, f.vkey, "differs from the signed root")

	other = *b
	other.Proof = other.Proof[1:]
	check("short proof", &other, f.vkey, "does not fit")

	other = *proveDir(t, f.dir, 100)
	other.Checkpoint = f.early
	check("older checkpoint", &other, f.vkey, "entry 100")
}

// TestBundleTamper: flipping, dropping, duplicating or truncating anything
// in an encoded bundle is detected, by ParseBundle or by Verify.
func TestBundleTamper(t *testing.T) {
	f := getFixture(t)
	enc, err := proveDir(t, f.dir, 5).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	accepted := func(data []byte) bool {
		b, err := ParseBundle(data)
		if err != nil {
			return false
		}
		_, err = b.Verify(f.vkey)
		return err == nil
	}
	if !accepted(enc) {
		t.Fatal("the untouched bundle does not verify")
	}
	for i := range enc {
		for _, bit := range []byte{0x01, 0x20} {
			d := bytes.Clone(enc)
			d[i] ^= bit
			if accepted(d) {
				t.Errorf("flipping bit %#x of byte %d (%q) went unnoticed", bit, i, enc[i])
			}
		}
	}
	for n := range len(enc) {
		if accepted(enc[:n]) {
			t.Errorf("truncation to %d bytes went unnoticed", n)
		}
	}
	lines := bytes.SplitAfter(enc, []byte("\n"))
	lines = lines[:len(lines)-1] // the empty string after the last newline
	for i := range lines {
		dropped := bytes.Join(append(append([][]byte{}, lines[:i]...), lines[i+1:]...), nil)
		if accepted(dropped) {
			t.Errorf("dropping line %d (%q) went unnoticed", i, lines[i])
		}
		duplicated := bytes.Join(append(append(append([][]byte{}, lines[:i+1]...), lines[i]), lines[i+1:]...), nil)
		if accepted(duplicated) {
			t.Errorf("duplicating line %d (%q) went unnoticed", i, lines[i])
		}
		if i+1 < len(lines) {
			swapped := append([][]byte{}, lines...)
			swapped[i], swapped[i+1] = swapped[i+1], swapped[i]
			if !bytes.Equal(swapped[i], swapped[i+1]) && accepted(bytes.Join(swapped, nil)) {
				t.Errorf("swapping lines %d and %d went unnoticed", i, i+1)
			}
		}
	}
}

func TestParseBundleRejects(t *testing.T) {
	good, err := os.ReadFile("testdata/bundle.tlog-proof")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseBundle(good); err != nil {
		t.Fatalf("test vector: %v", err)
	}
	s := string(good)
	extra := strings.SplitN(s, "\n", 3)[1]
	hashLine := strings.SplitN(s, "\n", 5)[3]
	for name, bad := range map[string]string{
		"empty":              "",
		"other header":       strings.Replace(s, "tlog-proof@v1", "tlog-proof@v2", 1),
		"no extra":           strings.Replace(s, extra+"\n", "", 1),
		"empty entry":        strings.Replace(s, extra, "extra ", 1),
		"unpadded entry":     strings.Replace(s, extra, strings.TrimRight(extra, "="), 1),
		"url base64 entry":   strings.Replace(s, extra, "extra -_-_", 1),
		"nonzero pad bits":   strings.Replace(s, extra, "extra YR==", 1),
		"CR in entry":        strings.Replace(s, extra, extra[:10]+"\r"+extra[10:], 1),
		"leading zero index": strings.Replace(s, "\nindex ", "\nindex 0", 1),
		"signed index":       strings.Replace(s, "\nindex ", "\nindex +", 1),
		"index overflow":     strings.Replace(s, "\nindex ", "\nindex 99999999999999999999", 1),
		"short hash":         strings.Replace(s, hashLine, hashLine[:40]+"==", 1),
		"too many hashes":    strings.Replace(s, hashLine+"\n", strings.Repeat(hashLine+"\n", 64), 1),
		"CRLF":               strings.ReplaceAll(s, "\n", "\r\n"),
		"no final newline":   strings.TrimSuffix(s, "\n"),
		"trailing data":      s + "more\n",
		"no signature":       s[:strings.LastIndex(s, "\n\n")+1],
		"too large":          strings.Replace(s, "\nindex ", strings.Repeat("A", MaxBundleSize)+"\nindex ", 1),
	} {
		if b, err := ParseBundle([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %+v", name, b)
		}
	}
}

// TestBundleVector checks testdata/bundle.tlog-proof, a test vector for
// verifiers in other languages: it verifies with testdata/bundle.vkey.
// Regenerate both with go test -run TestBundleVector -update-bundle.
func TestBundleVector(t *testing.T) {
	if *updateBundle {
		skey, vkey := testKey(t)
		dir := t.TempDir()
		l := openLog(t, dir, skey)
		for i := range 5 {
			if _, err := l.Append(t.Context(), entryData(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		enc, err := proveDir(t, dir, 2).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile("testdata/bundle.tlog-proof", enc, 0o644)
		os.WriteFile("testdata/bundle.vkey", []byte(vkey+"\n"), 0o644)
	}
	enc, err := os.ReadFile("testdata/bundle.tlog-proof")
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile("testdata/bundle.vkey")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBundle(enc)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Verify(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	if b.Index != 2 || string(b.Entry) != "entry 2\n" || res.Size != 5 || len(b.Proof) != 3 {
		t.Errorf("vector: index %d, entry %q, size %d, %d proof hashes", b.Index, b.Entry, res.Size, len(b.Proof))
	}
}

func FuzzParseBundle(f *testing.F) {
	good, err := os.ReadFile("testdata/bundle.tlog-proof")
	if err != nil {
		f.Fatal(err)
	}
	vkey, err := os.ReadFile("testdata/bundle.vkey")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(bytes.Replace(good, []byte("index 2"), []byte("index 3"), 1))
	f.Add(good[:len(good)/2])
	f.Add([]byte(bundleHeader + "extra AA==\nindex 0\n\norigin\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— origin AAAAAAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data)
		if err != nil {
			return
		}
		enc, err := b.Marshal()
		if err != nil {
			t.Fatalf("parsed bundle doesn't marshal: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("Marshal(Parse(x)) != x:\n%q\n%q", data, enc)
		}
		b.Verify(strings.TrimSpace(string(vkey))) // must not panic
	})
}
