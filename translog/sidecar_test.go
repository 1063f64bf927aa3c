package translog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sideStore is a SidecarFunc that remembers what it stored and can be made
// to fail.
type sideStore struct {
	mu     sync.Mutex
	got    map[uint64]string
	calls  int
	failN  int // fail this many calls first
	failed int
}

func (s *sideStore) apply(ctx context.Context, sides []Sidecar) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failed < s.failN {
		s.failed++
		return errors.New("store down")
	}
	if s.got == nil {
		s.got = map[uint64]string{}
	}
	for i, sd := range sides {
		if i > 0 && sd.Index <= sides[i-1].Index {
			return fmt.Errorf("sidecars out of order: %d after %d", sd.Index, sides[i-1].Index)
		}
		s.got[sd.Index] = string(sd.Data)
	}
	return nil
}

func (s *sideStore) snapshot() map[uint64]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[uint64]string{}
	for k, v := range s.got {
		out[k] = v
	}
	return out
}

func openWithStore(t *testing.T, dir, skey string, st *sideStore) *Log {
	t.Helper()
	l, err := Open(t.Context(), Options{Dir: dir, SignerKey: skey, CheckpointInterval: 100 * time.Millisecond, Sidecars: st.apply})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSidecarsApplied: every sidecar reaches the store, under the index its
// entry got, including after a store outage (retried, not dropped).
func TestSidecarsApplied(t *testing.T) {
	skey, _ := testKey(t)
	st := &sideStore{failN: 3}
	l := openWithStore(t, t.TempDir(), skey, st)
	var wg sync.WaitGroup
	idxs := make([]uint64, 40)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < 40; i += 4 {
				idx, err := l.AppendWith(t.Context(), entryData(i), fmt.Appendf(nil, "side %d", i))
				if err != nil {
					t.Error(err)
					return
				}
				idxs[i] = idx
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := st.snapshot()
	if len(got) != 40 {
		t.Fatalf("store holds %d sidecars, want 40", len(got))
	}
	for i, idx := range idxs {
		if got[idx] != fmt.Sprintf("side %d", i) {
			t.Errorf("sidecar of entry %d = %q, want side %d", idx, got[idx], i)
		}
	}
	if st.failed != 3 {
		t.Errorf("store failed %d times, want 3 (retries)", st.failed)
	}
}

// TestSidecarsReplayed: sidecars journaled before a crash are applied again
// before Open returns, including those of entries Tessera already holds.
func TestSidecarsReplayed(t *testing.T) {
	skey, vkey := testKey(t)
	dir := t.TempDir()
	st := &sideStore{}
	l := openWithStore(t, dir, skey, st)
	for i := range 3 {
		if _, err := l.AppendWith(t.Context(), entryData(i), fmt.Appendf(nil, "side %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// What a crash leaves: records 3 and 4 durable in the journal, with
	// sidecars, neither integrated nor applied.
	f, err := os.OpenFile(filepath.Join(dir, ".journal", journalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(encodeRecord(3, entryData(3), []byte("side 3")))
	f.Write(encodeRecord(4, entryData(4), []byte("side 4")))
	f.Close()

	fresh := &sideStore{}
	l = openWithStore(t, dir, skey, fresh)
	got := fresh.snapshot() // before any Append: Open waited for them
	for i := range uint64(5) {
		if got[i] != fmt.Sprintf("side %d", i) {
			t.Errorf("after Open, sidecar %d = %q", i, got[i])
		}
	}
	if idx, err := l.Append(t.Context(), []byte("next")); err != nil || idx != 5 {
		t.Fatalf("Append = %d, %v; want 5", idx, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := verifyDir(t, dir, vkey, VerifyOptions{}); err != nil || res.Size != 6 {
		t.Fatalf("verify: %+v %v", res, err)
	}
}

// TestSidecarNeedsStore: without a store, AppendWith refuses rather than
// keep a sidecar nobody will apply, and Open keeps journaled sidecars.
func TestSidecarNeedsStore(t *testing.T) {
	skey, _ := testKey(t)
	dir := t.TempDir()
	l := openLog(t, dir, skey)
	if _, err := l.AppendWith(t.Context(), entryData(0), []byte("side")); err == nil || !strings.Contains(err.Error(), "no sidecar store") {
		t.Fatalf("AppendWith without a store: %v", err)
	}
	if _, err := l.Append(t.Context(), entryData(0)); err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// TestJournalV1Retired: a journal of the earlier format is removed when the
// log holds every record of it, and refused when it does not.
func TestJournalV1Retired(t *testing.T) {
	skey, _ := testKey(t)
	dir := t.TempDir()
	l := openLog(t, dir, skey)
	appendN(t, l, 3, 1, 0)
	l.Close()
	v1 := func(idx uint64) []byte { // the old 16-byte header
		b := make([]byte, 16, 16+8)
		b = append(b, "old data"...)
		putV1(b, idx)
		return b
	}
	path := filepath.Join(dir, ".journal", journalV1File)
	os.WriteFile(path, append(v1(0), v1(1)...), 0o600)
	l = openLog(t, dir, skey)
	l.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("integrated v1 journal not removed: %v", err)
	}
	os.WriteFile(path, v1(7), 0o600)
	if _, err := Open(t.Context(), Options{Dir: dir, SignerKey: skey}); err == nil || !strings.Contains(err.Error(), "not integrated") {
		t.Fatalf("Open with an unintegrated v1 journal: %v", err)
	}
}

// putV1 fills in the old format's header of a record whose data follows it.
func putV1(b []byte, idx uint64) {
	binary.LittleEndian.PutUint64(b[0:8], idx)
	binary.LittleEndian.PutUint32(b[8:12], uint32(len(b)-16))
	h := crc32.New(crcTable)
	h.Write(b[:12])
	h.Write(b[16:])
	binary.LittleEndian.PutUint32(b[12:16], h.Sum32())
}

// TestSidecarBackPressure: while the sidecar store is down, the journal
// fills to its bound and then Append refuses, within a bounded wait,
// instead of hanging or dropping; once the store is back, everything
// journaled is stored.
func TestSidecarBackPressure(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the journal")
	}
	skey, _ := testKey(t)
	st := &sideStore{failN: 1 << 30}
	l := openWithStore(t, t.TempDir(), skey, st)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var refused error
	ok := 0
	for i := 0; i < maxJournalLag+10 && refused == nil; i++ {
		if _, err := l.AppendWith(ctx, entryData(i), []byte("s")); err != nil {
			refused = err
			break
		}
		ok++
	}
	if refused == nil || !strings.Contains(refused.Error(), "not yet integrated or stored") {
		t.Fatalf("after %d appends with the store down: %v", ok, refused)
	}
	if ok >= maxJournalLag+10 {
		t.Fatalf("the journal took %d entries past its bound", ok)
	}
	st.mu.Lock()
	st.failN = 0
	st.mu.Unlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(st.snapshot()); got != ok {
		t.Fatalf("store holds %d sidecars, %d were accepted", got, ok)
	}
}
