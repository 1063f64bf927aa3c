package translog

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestJournalTornTail: a crash mid-write leaves a partial record at the
// journal's tail, never acknowledged; Open cuts it off and the log goes on
// with the next index.
func TestJournalTornTail(t *testing.T) {
	skey, vkey := testKey(t)
	dir := t.TempDir()
	l := openLog(t, dir, skey)
	appendN(t, l, 10, 4, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, ".journal", journalFile)
	f, err := os.OpenFile(jpath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{10, 0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 1, 2, 3}) // a header with no body
	f.Close()

	l = openLog(t, dir, skey)
	idx, err := l.Append(t.Context(), []byte("after the tear"))
	if err != nil || idx != 10 {
		t.Fatalf("Append after a torn tail = %d, %v; want 10", idx, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := verifyDir(t, dir, vkey, VerifyOptions{})
	if err != nil || res.Size != 11 {
		t.Fatalf("verify: %+v %v", res, err)
	}
}

// TestJournalReplay: records journaled but not integrated when the process
// died are integrated, in order, by the next Open.
func TestJournalReplay(t *testing.T) {
	skey, vkey := testKey(t)
	dir := t.TempDir()
	l := openLog(t, dir, skey)
	appendN(t, l, 5, 1, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Forge what a crash leaves: journal records 5..7 durable, not in
	// Tessera.
	var buf []byte
	for i := uint64(5); i < 8; i++ {
		buf = append(buf, encodeRecord(i, entryData(int(i)), nil)...)
	}
	f, _ := os.OpenFile(filepath.Join(dir, ".journal", journalFile), os.O_WRONLY|os.O_APPEND, 0)
	f.Write(buf)
	f.Close()

	l = openLog(t, dir, skey)
	idx, err := l.Append(t.Context(), []byte("next"))
	if err != nil || idx != 8 {
		t.Fatalf("Append after replay = %d, %v; want 8", idx, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	res, err := verifyDir(t, dir, vkey, VerifyOptions{Entry: func(i uint64, b []byte) error {
		got = append(got, string(b))
		return nil
	}})
	if err != nil || res.Size != 9 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if got[6] != string(entryData(6)) || got[8] != "next" {
		t.Fatalf("replayed entries out of place: %q", got[5:])
	}
}

// TestJournalStartsAfresh: once the journal has grown past truncateAt and
// everything in it is integrated and applied, it is started afresh while
// appends go on (with its preallocation racing the flusher), and the log
// and every sidecar come through whole, also across a reopen.
func TestJournalStartsAfresh(t *testing.T) {
	defer func(old int64) { truncateAt = old }(truncateAt)
	truncateAt = 64 << 10
	skey, vkey := testKey(t)
	dir := t.TempDir()
	st := &sideStore{}
	l := openWithStore(t, dir, skey, st)
	big := make([]byte, 4000)
	for i := range 200 {
		if _, err := l.AppendWith(t.Context(), append(entryData(i), big...), []byte("side")); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(150 * time.Millisecond) // let Tessera and the store catch up, so it truncates
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A clean close cuts the preallocated zeros: what is left is records.
	fi, err := os.Stat(filepath.Join(dir, ".journal", journalFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= 200*4000 {
		t.Errorf("journal is %d bytes after 200 entries of 4 KB: never started afresh", fi.Size())
	}
	l = openWithStore(t, dir, skey, st)
	if idx, err := l.Append(t.Context(), []byte("after")); err != nil || idx != 200 {
		t.Fatalf("Append after reopening = %d, %v; want 200", idx, err)
	}
	l.Close()
	res, err := verifyDir(t, dir, vkey, VerifyOptions{})
	if err != nil || res.Size != 201 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if n := len(st.snapshot()); n != 200 {
		t.Fatalf("store holds %d sidecars, want 200", n)
	}
}
