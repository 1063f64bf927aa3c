package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

var update = flag.Bool("update", false, "rewrite testdata/v1.age and testdata/v2.sealed")

// testIdentity and testRecipient are a fixed overseer key for the golden
// blobs in testdata and the fuzz test; they protect nothing.
const (
	testIdentity  = "AGE-SECRET-KEY-14MQ6WPJM8AF2ZCG9X35F4YKK0M0QMGESS938XUCMY3H2QMW4ZMWSQLV0AC"
	testRecipient = "age18e592srta5226tq7jdwr5ckfqgq56w6x8qmptd2su5eys56pa5nscrzxz9"
)

// testDetail is about the size of a gateway detail record.
var testDetail = []byte(`{"v":1,"nonce":"9f86d081884c7d659a2feaa0c55ad015","time":"2025-11-03T10:15:42.123456Z","analyst":"a.jones","unit":"field-office-7","authority":"W-2025-0142","sql":"SELECT name, address FROM persons WHERE person_id = $1","params":["P-000184"],"subjects":["P-000184"]}`)

func identity(t testing.TB) (id, recipient string) {
	t.Helper()
	id, recipient, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id, recipient
}

func sealer(t testing.TB, recipients ...string) *Sealer {
	t.Helper()
	s, err := NewSealer(recipients)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seal(t testing.TB, s *Sealer, plaintext []byte) []byte {
	t.Helper()
	b, err := s.Seal(plaintext)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wrappedKey returns the wrapped key of a v2 blob.
func wrappedKey(t testing.TB, blob []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(blob, []byte(magic)) {
		t.Fatalf("not a v2 blob: %q", blob[:min(len(blob), 30)])
	}
	n := binary.BigEndian.Uint32(blob[len(magic):])
	return blob[len(magic)+4 : len(magic)+4+int(n)]
}

// ageEncrypt makes an age file the way the sealer did before epochs.
func ageEncrypt(t testing.TB, plaintext []byte, recipients ...string) []byte {
	t.Helper()
	var rs []age.Recipient
	for _, r := range recipients {
		rc, err := age.ParseX25519Recipient(r)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, rc)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plaintext)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fixture is one overseer, a sealer to them, and testDetail sealed by it.
type fixture struct {
	id, recipient string
	s             *Sealer
	sealed        []byte
	c             [32]byte // the commitment to testDetail
	wrapped, body []byte   // sealed's wrapped key and what follows it
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	f := fixture{c: sha256.Sum256(testDetail)}
	f.id, f.recipient = identity(t)
	f.s = sealer(t, f.recipient)
	f.sealed = seal(t, f.s, testDetail)
	f.wrapped = wrappedKey(t, f.sealed)
	f.body = f.sealed[len(magic)+4+len(f.wrapped):]
	return f
}

// v2 assembles a v2 blob from its parts, right or wrong.
func v2(n uint32, wrapped, rest []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte(magic), n)
	return append(append(b, wrapped...), rest...)
}

func open(sealed []byte, id string, commitment [32]byte) ([]byte, error) {
	return Open(sealed, strings.NewReader(id), commitment)
}

func TestSealOpen(t *testing.T) {
	id1, r1 := identity(t)
	id2, r2 := identity(t)
	outsider, _ := identity(t)
	s := sealer(t, r1, r2)
	detail := []byte(`{"sql":"SELECT religion FROM persons"}`)
	sealed := seal(t, s, detail)
	if !bytes.HasPrefix(sealed, []byte("custodes-sealed/v2\n")) {
		t.Fatalf("not the v2 format: %q", sealed[:20])
	}
	if bytes.Contains(sealed, []byte("religion")) {
		t.Fatal("the sealed detail shows its plaintext")
	}
	c := sha256.Sum256(detail)
	for _, id := range []string{id1, id2} {
		got, err := open(sealed, id, c)
		if err != nil || string(got) != string(detail) {
			t.Fatalf("overseer could not open: %v %q", err, got)
		}
	}
	if _, err := open(sealed, outsider, c); err == nil {
		t.Fatal("an outsider's identity opened the detail")
	}
	var wrong [32]byte
	got, err := open(sealed, id1, wrong)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("a wrong commitment: %v", err)
	}
	if string(got) != string(detail) {
		t.Fatalf("a mismatch does not show what was found: %q", got)
	}
	// An empty detail seals and opens too.
	empty := seal(t, s, nil)
	if got, err := open(empty, id1, sha256.Sum256(nil)); err != nil || len(got) != 0 {
		t.Fatalf("an empty detail: %v %q", err, got)
	}
	if _, err := NewSealer(nil); err == nil {
		t.Fatal("a sealer with no recipients")
	}
	if _, err := NewSealer([]string{"age1nope"}); err == nil {
		t.Fatal("a bad recipient was accepted")
	}
}

// Two details of one epoch share the wrapped key but not the nonce or the
// ciphertext.
func TestSealsOfAnEpochDiffer(t *testing.T) {
	_, r := identity(t)
	s := sealer(t, r)
	a, b := seal(t, s, testDetail), seal(t, s, testDetail)
	if !bytes.Equal(wrappedKey(t, a), wrappedKey(t, b)) {
		t.Fatal("two details of one epoch have different wrapped keys")
	}
	h := len(magic) + 4 + len(wrappedKey(t, a))
	if bytes.Equal(a[h:h+24], b[h:h+24]) || bytes.Equal(a[h+24:], b[h+24:]) {
		t.Fatal("two seals of one detail share a nonce or a ciphertext")
	}
	if len(a) != h+24+len(testDetail)+16 {
		t.Fatalf("a blob of %d bytes for a %d-byte detail and a %d-byte header", len(a), len(testDetail), h)
	}
}

// Control databases hold details sealed as plain age files; they must
// still open.
func TestOldFormatOpens(t *testing.T) {
	id, r := identity(t)
	outsider, _ := identity(t)
	old := ageEncrypt(t, testDetail, r)
	c := sha256.Sum256(testDetail)
	got, err := open(old, id, c)
	if err != nil || !bytes.Equal(got, testDetail) {
		t.Fatalf("an old-format detail: %v %q", err, got)
	}
	if _, err := open(old, outsider, c); err == nil {
		t.Fatal("an outsider opened an old-format detail")
	}
	if _, err := open(old, id, [32]byte{}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("an old-format detail against a wrong commitment: %v", err)
	}
	if _, err := open(append(old, 0), id, c); err == nil {
		t.Fatal("an old-format detail with a byte appended opened")
	}
}

// The blobs in testdata were sealed by this package (v2) and by age before
// epochs (v1); they must open as long as stored details may be of either
// format. go test -run TestGolden -update rewrites them.
func TestGolden(t *testing.T) {
	old, cur := filepath.Join("testdata", "v1.age"), filepath.Join("testdata", "v2.sealed")
	if *update {
		s := sealer(t, testRecipient)
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(old, ageEncrypt(t, testDetail, testRecipient), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cur, seal(t, s, testDetail), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{old, cur} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := open(b, testIdentity, sha256.Sum256(testDetail))
		if err != nil || !bytes.Equal(got, testDetail) {
			t.Fatalf("%s: %v %q", name, err, got)
		}
	}
}

func TestTamperedFails(t *testing.T) {
	f := newFixture(t)
	id, sealed, c := f.id, f.sealed, f.c
	if _, err := open(sealed, id, c); err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, flip := range []byte{0x01, 0x80} {
			b := bytes.Clone(sealed)
			b[i] ^= flip
			if got, err := open(b, id, c); err == nil {
				t.Fatalf("byte %d ^ %#x: opened %q", i, flip, got)
			}
		}
	}
}

func TestTruncatedOrExtendedFails(t *testing.T) {
	f := newFixture(t)
	id, sealed, c := f.id, f.sealed, f.c
	for n := range len(sealed) {
		if _, err := open(sealed[:n], id, c); err == nil {
			t.Fatalf("the first %d of %d bytes opened", n, len(sealed))
		}
	}
	for _, tail := range []string{"\x00", "\n", "x", strings.Repeat("\x00", 16)} {
		if _, err := open(append(bytes.Clone(sealed), tail...), id, c); err == nil {
			t.Fatalf("the blob with %q appended opened", tail)
		}
	}
}

// A blob's ciphertext must not open under another header, even one that
// wraps the same epoch key.
func TestReheadedFails(t *testing.T) {
	f := newFixture(t)
	ids, err := age.ParseIdentities(strings.NewReader(f.id))
	if err != nil {
		t.Fatal(err)
	}
	key, err := openAge(f.wrapped, ids, epochKeySize)
	if err != nil {
		t.Fatal(err)
	}
	rewrapped := ageEncrypt(t, key, f.recipient)
	if _, err := open(v2(uint32(len(rewrapped)), rewrapped, f.body), f.id, f.c); err == nil {
		t.Fatal("the detail opened under another wrapping of its epoch key")
	}
	// The same body does open with the key and the original header as
	// additional data, so the failure above is the header's doing.
	aead, _ := chacha20poly1305.NewX(key)
	h := len(magic) + 4 + len(f.wrapped)
	if _, err := aead.Open(nil, f.body[:24], f.body[24:], f.sealed[:h]); err != nil {
		t.Fatalf("the body does not open with its own header: %v", err)
	}
}

func TestMalformedRefused(t *testing.T) {
	f := newFixture(t)
	id, r, s, sealed, c, wrapped, body := f.id, f.recipient, f.s, f.sealed, f.c, f.wrapped, f.body
	blob := v2
	huge := make([]byte, maxWrapped+1)
	cases := []struct {
		name, want string
		blob       []byte
	}{
		{"empty", "", nil},
		{"magic only", "truncated", []byte(magic)},
		{"no wrapped key", "wrapped key of 0 bytes", blob(0, nil, body)},
		{"wrapped key over the cap", "wrapped key of 65537 bytes", blob(maxWrapped+1, huge, body)},
		{"length past the end", "truncated", blob(uint32(len(wrapped)+len(body)), wrapped, body)},
		{"no tag", "truncated", blob(uint32(len(wrapped)), wrapped, body[:24+15])},
		{"detail over the cap", "larger than", blob(uint32(len(wrapped)), wrapped, make([]byte, 24+maxDetail+17))},
		{"wrapped key of 31 bytes", "31 bytes, not 32", blob(0, nil, nil)},
		{"wrapped key of 33 bytes", "more than 32 bytes", blob(0, nil, nil)},
		{"unknown version", "unknown format \"custodes-sealed/v3\"", append([]byte("custodes-sealed/v3\n"), sealed[len(magic):]...)},
		{"armored age", "", []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")},
	}
	for i, size := range []int{31, 33} {
		w := ageEncrypt(t, make([]byte, size), r)
		cases[7+i].blob = blob(uint32(len(w)), w, body)
	}
	for _, tc := range cases {
		_, err := open(tc.blob, id, c)
		if err == nil || errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if _, err := s.Seal(make([]byte, maxDetail+1)); err == nil {
		t.Error("a detail over the cap was sealed")
	}
	if b, err := s.Seal(make([]byte, maxDetail)); err != nil {
		t.Error(err)
	} else if _, err := open(b, id, sha256.Sum256(make([]byte, maxDetail))); err != nil {
		t.Errorf("a detail at the cap: %v", err)
	}
}

func TestRotationByCount(t *testing.T) {
	id, r := identity(t)
	s, err := newSealer([]string{r}, 3, time.Hour, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	for i := range 7 {
		b := seal(t, s, testDetail)
		if _, err := open(b, id, sha256.Sum256(testDetail)); err != nil {
			t.Fatalf("detail %d: %v", i, err)
		}
		keys = append(keys, wrappedKey(t, b))
	}
	for i := range keys {
		for j := range keys {
			if same := bytes.Equal(keys[i], keys[j]); same != (i/3 == j/3) {
				t.Fatalf("details %d and %d: same wrapped key %v, epochs of 3", i, j, same)
			}
		}
	}
}

func TestRotationByTime(t *testing.T) {
	id, r := identity(t)
	clock := time.Date(2025, 11, 3, 10, 0, 0, 0, time.UTC)
	s, err := newSealer([]string{r}, 1000, time.Minute, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) []byte {
		clock = time.Date(2025, 11, 3, 10, 0, 0, 0, time.UTC).Add(d)
		b := seal(t, s, testDetail)
		if _, err := open(b, id, sha256.Sum256(testDetail)); err != nil {
			t.Fatal(err)
		}
		return wrappedKey(t, b)
	}
	first, later := at(0), at(59*time.Second)
	if !bytes.Equal(first, later) {
		t.Fatal("the epoch ended before its minute")
	}
	next := at(time.Minute)
	if bytes.Equal(first, next) {
		t.Fatal("the epoch outlived its minute")
	}
	if !bytes.Equal(next, at(time.Minute+59*time.Second)) {
		t.Fatal("the second epoch ended before its minute")
	}
	if bytes.Equal(next, at(2*time.Minute)) {
		t.Fatal("the second epoch outlived its minute")
	}
}

// Concurrent callers rotate once per ended epoch, and no epoch seals more
// than its count.
func TestConcurrentRotation(t *testing.T) {
	id, r := identity(t)
	const perEpoch, workers, each = 25, 8, 100
	s, err := newSealer([]string{r}, perEpoch, time.Hour, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	uses := map[string]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				b, err := s.Seal(testDetail)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				uses[string(wrappedKey(t, b))]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if want := workers * each / perEpoch; len(uses) != want {
		t.Errorf("%d epochs for %d details, want %d", len(uses), workers*each, want)
	}
	for _, n := range uses {
		if n > perEpoch {
			t.Errorf("an epoch sealed %d details, over %d", n, perEpoch)
		}
	}
	b := seal(t, s, testDetail)
	if _, err := open(b, id, sha256.Sum256(testDetail)); err != nil {
		t.Fatal(err)
	}
}

// FuzzOpen feeds Open arbitrary blobs: it must never panic, and never
// return a detail without an error unless it matches the commitment.
func FuzzOpen(f *testing.F) {
	f.Add(seal(f, sealer(f, testRecipient), testDetail))
	f.Add(ageEncrypt(f, testDetail, testRecipient))
	f.Add([]byte(magic))
	f.Add(v2(maxWrapped+1, nil, nil))
	c := sha256.Sum256(testDetail)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := open(b, testIdentity, c)
		if err == nil && sha256.Sum256(got) != c {
			t.Fatalf("opened a detail that does not match: %q", got)
		}
		if err != nil && !errors.Is(err, ErrMismatch) && got != nil {
			t.Fatalf("an error with a detail: %v", err)
		}
	})
}

// BenchmarkSeal compares one age file per detail (what Seal did before
// epochs) with Seal, for a detail of about 300 bytes.
func BenchmarkSeal(b *testing.B) {
	_, r := identity(b)
	rc, err := age.ParseX25519Recipient(r)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("detail of %d bytes", len(testDetail))
	b.Run("age-per-detail", func(b *testing.B) {
		b.SetBytes(int64(len(testDetail)))
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			w, err := age.Encrypt(&buf, rc)
			if err != nil {
				b.Fatal(err)
			}
			w.Write(testDetail)
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("epoch", func(b *testing.B) {
		s := sealer(b, r)
		b.SetBytes(int64(len(testDetail)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Seal(testDetail); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("epoch-parallel", func(b *testing.B) {
		s := sealer(b, r)
		b.SetBytes(int64(len(testDetail)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Seal(testDetail); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
