//go:build linux

package translog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/custodes/custodes/internal/tmpfs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The log's storage failing under it: a filesystem that fills up (under
// Tessera's files, or under the journal's own preallocation) and one that is
// read-only. Each runs on a private tmpfs of a few MiB, so the tests need
// root (or CAP_SYS_ADMIN) and skip without it.
//
// What they hold the log to: an Append that cannot be made durable returns
// an error; once one has, every later Append errors too (the log fails
// closed and hands out no index); nothing half-written corrupts the log —
// after space is freed (or the filesystem is writable again) Open succeeds,
// Verify passes, and every Append that returned nil is in the log at its
// index, with its sidecar applied.

// storageFault is one run against a failing filesystem: the log on it,
// what the log acknowledged, and the error it first refused with.
type storageFault struct {
	dir, skey, vkey string
	st              *sideStore // stands for the control database: it outlives the log
	l               *Log

	mu      sync.Mutex
	acked   map[uint64]string // index → entry data, for every Append that returned nil
	sides   map[uint64]string // index → sidecar of it
	first   error             // the first Append error
	firstAt int               // how many Appends had been acknowledged by then
}

// newStorageFault opens a log with a sidecar store on a fresh tmpfs of
// size; it is closed at cleanup unless the test closed it.
func newStorageFault(t *testing.T, size string) *storageFault {
	t.Helper()
	sf := &storageFault{dir: tmpfs.Mount(t, size), st: &sideStore{}, acked: map[uint64]string{}, sides: map[uint64]string{}}
	sf.skey, sf.vkey = testKey(t)
	l, err := Open(t.Context(), Options{Dir: sf.dir, SignerKey: sf.skey, CheckpointInterval: 100 * time.Millisecond, Sidecars: sf.st.apply})
	if err != nil {
		t.Fatal(err)
	}
	sf.l = l
	t.Cleanup(func() { l.Close() }) // idempotent
	return sf
}

// closeFailed closes the log after its failure: Close reports the failure,
// and returns promptly once there is room again.
func (sf *storageFault) closeFailed(t *testing.T) {
	t.Helper()
	start := time.Now()
	err := sf.l.Close()
	t.Logf("Close of the failed log: %.300v after %v", err, time.Since(start).Round(time.Millisecond))
	if err == nil {
		t.Error("Close of a failed log returned nil")
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Close of the failed log took %v", d)
	}
}

// appendUntilError appends from workers goroutines, entry i with the
// sidecar side(i), until one Append fails or limit entries or the deadline
// pass, and returns whether one failed.
func (sf *storageFault) appendUntilError(t *testing.T, workers, from, limit int, deadline time.Duration, side func(i int) []byte) bool {
	t.Helper()
	next := make(chan int)
	stop := make(chan struct{})
	go func() {
		defer close(next)
		end := time.After(deadline)
		for i := from; i < from+limit; i++ {
			select {
			case next <- i:
			case <-stop:
				return
			case <-end:
				return
			}
		}
	}()
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				d, s := entryData(i), side(i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				idx, err := sf.l.AppendWith(ctx, d, s)
				cancel()
				sf.mu.Lock()
				if err != nil {
					if sf.first == nil {
						sf.first, sf.firstAt = err, len(sf.acked)
					}
					sf.mu.Unlock()
					once.Do(func() { close(stop) })
					continue
				}
				if prev, dup := sf.acked[idx]; dup {
					t.Errorf("index %d acknowledged for %q and %q", idx, prev, d)
				}
				sf.acked[idx] = string(d)
				sf.sides[idx] = string(s)
				sf.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return sf.first != nil
}

// failsClosed checks that the log, having refused one Append, refuses
// every later one, promptly.
func failsClosed(t *testing.T, l *Log) {
	t.Helper()
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		idx, err := l.AppendWith(ctx, []byte(fmt.Sprintf("after the failure %d\n", i)), []byte("side"))
		cancel()
		if err == nil {
			t.Fatalf("Append %d after a failed one returned index %d: the log does not fail closed", i, idx)
		}
		if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Fatalf("Append %d after a failed one took %v (%v): it should fail at once", i, time.Since(start), err)
		}
	}
}

// checkRecovered reopens the log with the sidecar store it had (which,
// like the control database, outlives the process) and checks that
// every acknowledged entry is in it at its index, with its sidecar applied
// by the time Open returns, and that it verifies and takes new entries.
func (sf *storageFault) checkRecovered(t *testing.T) {
	t.Helper()
	l, err := Open(t.Context(), Options{Dir: sf.dir, SignerKey: sf.skey, CheckpointInterval: 100 * time.Millisecond, Sidecars: sf.st.apply})
	if err != nil {
		t.Fatalf("Open after the storage recovered: %v", err)
	}
	applied := sf.st.snapshot()
	var maxAcked uint64
	missing := 0
	for idx, want := range sf.sides {
		if applied[idx] != want {
			if missing++; missing <= 5 {
				t.Errorf("after reopening, the sidecar of acknowledged entry %d is %d bytes (%.20q), want %d bytes (%.20q)", idx, len(applied[idx]), applied[idx], len(want), want)
			}
		}
		maxAcked = max(maxAcked, idx)
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged sidecars are not in the store", missing, len(sf.sides))
	}
	idx, err := l.Append(t.Context(), []byte("after the recovery\n"))
	if err != nil {
		t.Fatalf("Append after reopening: %v", err)
	}
	if len(sf.acked) > 0 && idx <= maxAcked {
		t.Fatalf("Append after reopening got index %d, but %d was acknowledged before", idx, maxAcked)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close after reopening: %v", err)
	}
	found := 0
	res, err := verifyDir(t, sf.dir, sf.vkey, VerifyOptions{Entry: func(i uint64, b []byte) error {
		if want, ok := sf.acked[i]; ok {
			if string(b) != want {
				return fmt.Errorf("entry %d is %q, acknowledged as %q", i, b, want)
			}
			found++
		}
		return nil
	}})
	if err != nil {
		t.Fatalf("Verify after the storage recovered: %v", err)
	}
	if found != len(sf.acked) {
		t.Fatalf("%d of %d acknowledged entries are in the log (size %d)", found, len(sf.acked), res.Size)
	}
	if res.Size <= idx {
		t.Fatalf("log size %d does not cover the entry appended after recovery (%d)", res.Size, idx)
	}
	t.Logf("recovered: %d acknowledged entries in a log of %d, all at their indices", found, res.Size)
}

// waitIntegrated waits until Tessera holds n entries of l.
func waitIntegrated(t *testing.T, l *Log, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		l.journal.mu.Lock()
		got := l.journal.integrated
		l.journal.mu.Unlock()
		if got >= n {
			return
		}
	}
	t.Fatalf("Tessera did not integrate %d entries within 5s", n)
}

func wantENOSPC(t *testing.T, err error) {
	t.Helper()
	if !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("the Append error does not say why: %v", err)
	}
}

// TestStorageFullUnderTessera fills the filesystem while the journal still
// has room zero-filled ahead of its records: the journal's writes go on
// succeeding, Tessera's batch fails, and the log must stop acknowledging
// from then on.
func TestStorageFullUnderTessera(t *testing.T) {
	sf := newStorageFault(t, "24m")
	side := func(i int) []byte { return fmt.Appendf(nil, "side %d", i) }
	if sf.appendUntilError(t, 4, 0, 20, 10*time.Second, side) {
		t.Fatalf("Append failed before the filesystem was full: %v", sf.first)
	}
	// Let Tessera integrate those, so the full filesystem catches the log
	// with a tree on disk.
	waitIntegrated(t, sf.l, 20)
	filler := tmpfs.Fill(t, sf.dir)
	// The journal applies back-pressure at maxJournalLag entries behind
	// Tessera, so this ends by then even if the failure were slow.
	if !sf.appendUntilError(t, 4, 20, 2*maxJournalLag, 10*time.Second, side) {
		t.Fatalf("the log acknowledged %d entries on a full filesystem and never failed", len(sf.acked))
	}
	t.Logf("first failure after %d acknowledged entries: %.300v", sf.firstAt, sf.first)
	wantENOSPC(t, sf.first)
	failsClosed(t, sf.l)

	// Space comes back: the failed log stays failed (it cannot know what
	// its failed write left), and closes without hanging.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	failsClosed(t, sf.l)
	sf.closeFailed(t)
	sf.checkRecovered(t)
}

// TestStorageFullLargeEntries fills the filesystem with the journal's own
// records: entries with half-MiB sidecars use up what the journal has
// zero-filled ahead, and then the filesystem. Whichever write meets the
// full filesystem first — the journal's, or Tessera's behind it (the
// journal's extender races it) — the log fails closed and loses nothing.
func TestStorageFullLargeEntries(t *testing.T) {
	sf := newStorageFault(t, "20m")
	big := func(i int) []byte {
		b := make([]byte, 512<<10)
		copy(b, fmt.Sprintf("side %d ", i))
		for j := 16; j < len(b); j++ {
			b[j] = byte('a' + (i+j)%26)
		}
		return b
	}
	if !sf.appendUntilError(t, 2, 0, 200, 20*time.Second, big) {
		t.Fatalf("the log acknowledged %d half-MiB entries on a 20 MiB filesystem and never failed", len(sf.acked))
	}
	t.Logf("first failure after %d acknowledged entries: %.300v", sf.firstAt, sf.first)
	wantENOSPC(t, sf.first)
	failsClosed(t, sf.l)

	if err := tmpfs.Remount(sf.dir, 0, "size=64m"); err != nil {
		t.Fatalf("couldn't grow the tmpfs: %v", err)
	}
	failsClosed(t, sf.l)
	sf.closeFailed(t)
	sf.checkRecovered(t)
}

// TestStorageJournalWriteFails makes the journal's own write fail part
// way, deterministically: a file size limit (RLIMIT_FSIZE, which only the
// journal's file reaches) cuts a group's write short with EFBIG, leaving a
// torn record at the journal's tail. The log fails closed, and the reopened
// log has every acknowledged entry and none of the torn one.
func TestStorageJournalWriteFails(t *testing.T) {
	sf := newStorageFault(t, "64m")
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	limited := lim
	limited.Cur = 6 << 20
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limited); err != nil {
		t.Skipf("skipping: can't limit the file size: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
				t.Errorf("couldn't restore the file size limit: %v", err)
			}
		}
	}
	defer restore()
	big := func(i int) []byte {
		b := make([]byte, 300<<10)
		copy(b, fmt.Sprintf("side %d ", i))
		return b
	}
	if !sf.appendUntilError(t, 1, 0, 100, 20*time.Second, big) {
		t.Fatalf("the log acknowledged %d entries with 300 KiB sidecars under a 6 MiB file size limit and never failed", len(sf.acked))
	}
	t.Logf("first failure after %d acknowledged entries: %.300v", sf.firstAt, sf.first)
	if !strings.Contains(sf.first.Error(), "journal write failed") || !strings.Contains(sf.first.Error(), "file too large") {
		t.Errorf("want the journal's write to fail with EFBIG, got %.300v", sf.first)
	}
	failsClosed(t, sf.l)
	restore()
	failsClosed(t, sf.l)
	sf.closeFailed(t)
	// What the failed write left: part of a record after the acknowledged
	// ones.
	var good int64
	for idx, d := range sf.acked {
		good += int64(headerSize + len(d) + len(sf.sides[idx]))
	}
	j, err := os.ReadFile(filepath.Join(sf.dir, ".journal", journalFile))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(j)) < good+headerSize || binary.LittleEndian.Uint64(j[good:]) != uint64(len(sf.acked)) {
		t.Fatalf("the journal (%d bytes) holds no torn record after the %d acknowledged ones (%d bytes)", len(j), len(sf.acked), good)
	}
	t.Logf("the journal holds %d bytes of a torn record %d after the acknowledged ones", int64(len(j))-good, len(sf.acked))
	sf.checkRecovered(t)
}

// TestStorageFsyncFails: the journal's fdatasync reports an I/O error, as a
// failing disk does (through syncData: this machine has no device mapper to
// fail a real disk with). The Appends that waited for it error, and every
// later one errors at once, even once the disk is good again: after a
// failed fsync the kernel may have dropped the dirty pages and marked them
// clean, so a retry could succeed for data that is gone (PostgreSQL's
// "fsyncgate", 2018) — the log never retries, it fails closed until it is
// reopened. Reopened, it holds every acknowledged entry at its index.
func TestStorageFsyncFails(t *testing.T) {
	sf := newStorageFault(t, "64m")
	var calls atomic.Int64
	syncData = func(f *os.File) error {
		if calls.Add(1) > 10 {
			return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: syscall.EIO}
		}
		return fdatasync(f)
	}
	defer func() { syncData = fdatasync }()
	if !sf.appendUntilError(t, 4, 0, 1000, 20*time.Second, func(i int) []byte { return fmt.Appendf(nil, "side %d", i) }) {
		t.Fatalf("the log acknowledged %d entries while fdatasync failed", len(sf.acked))
	}
	t.Logf("first failure after %d acknowledged entries (%d fdatasyncs): %.300v", sf.firstAt, calls.Load(), sf.first)
	if !strings.Contains(sf.first.Error(), "input/output error") {
		t.Errorf("want the Append to fail with the fdatasync's EIO, got %.300v", sf.first)
	}
	failsClosed(t, sf.l)
	syncData = fdatasync // the disk is good again: still closed
	failsClosed(t, sf.l)
	sf.closeFailed(t)
	sf.checkRecovered(t)
}

// readOnlyLog makes a log of 50 entries on a tmpfs, then makes the
// filesystem read-only.
func readOnlyLog(t *testing.T) *storageFault {
	t.Helper()
	sf := newStorageFault(t, "24m")
	if sf.appendUntilError(t, 4, 0, 50, 10*time.Second, func(i int) []byte { return fmt.Appendf(nil, "side %d", i) }) {
		t.Fatal(sf.first)
	}
	// The kernel refuses to make a filesystem read-only while files are
	// open for writing on it, so a log cannot lose its storage this way
	// while open (an ext4 remounted read-only on an I/O error is the case
	// this cannot reproduce).
	if err := tmpfs.Remount(sf.dir, syscall.MS_RDONLY, ""); err == nil {
		tmpfs.Remount(sf.dir, 0, "")
		t.Fatal("the kernel made the tmpfs read-only under an open log; this test assumes it refuses")
	}
	if err := sf.l.Close(); err != nil {
		t.Fatal(err)
	}
	// Tessera's own goroutines may still be finishing a file (each one is
	// written to a temporary name and renamed) for a moment after Close.
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = tmpfs.Remount(sf.dir, syscall.MS_RDONLY, ""); !errors.Is(err, syscall.EBUSY) {
			break
		}
	}
	if err != nil {
		t.Fatalf("couldn't make the tmpfs read-only: %v", err)
	}
	return sf
}

// openReadOnly opens the log in dir, recovering a panic into an error, and
// failing t if it hangs or succeeds.
func openReadOnly(t *testing.T, dir, skey string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, err := Open(ctx, Options{Dir: dir, SignerKey: skey, Sidecars: (&sideStore{}).apply})
		if err == nil {
			l.Close()
			t.Error("Open succeeded on a read-only filesystem")
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Logf("Open on a read-only filesystem: %v", err)
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("Open on a read-only filesystem hangs")
		return nil
	}
}

// TestStorageReadOnlyRecovers: a log whose filesystem went read-only while
// it was closed does not open, nothing in it is changed, and once the
// filesystem is writable again it opens whole.
func TestStorageReadOnlyRecovers(t *testing.T) {
	sf := readOnlyLog(t)
	openReadOnly(t, sf.dir, sf.skey)
	if err := tmpfs.Remount(sf.dir, 0, ""); err != nil {
		t.Fatalf("couldn't make the tmpfs writable again: %v", err)
	}
	sf.checkRecovered(t)
}

// TestStorageReadOnlyOpenErrors: Open on a read-only filesystem returns an
// error that says so, as its contract has it, rather than panicking (which
// takes `custodes serve` down with a stack trace instead of the message
// "couldn't open the transparency log: …").
func TestStorageReadOnlyOpenErrors(t *testing.T) {
	sf := readOnlyLog(t)
	err := openReadOnly(t, sf.dir, sf.skey)
	if err == nil {
		return // openReadOnly failed t
	}
	if strings.HasPrefix(err.Error(), "panic") {
		t.Fatalf("Open on a read-only filesystem panics: %v", err)
	}
	if !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("Open's error does not say the filesystem is read-only: %v", err)
	}
}

// The log out of file descriptors: every session of the gateway holds two
// sockets, so a flood of connections can use up the process's descriptors,
// and Tessera opens a lock file for every batch. A child process lowers its
// limit, opens a log, appends, uses up its descriptors and appends again,
// printing "ack INDEX DATA" for each Append that returned nil and "err …"
// for each that did not.

const fdChildEnv = "TRANSLOG_FD_CHILD_DIR"

func fdChild() {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("setup", err)
		os.Exit(1)
	}
	l, err := Open(context.Background(), Options{Dir: os.Getenv(fdChildEnv), SignerKey: os.Getenv("TRANSLOG_FD_CHILD_KEY"), CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		fmt.Println("setup", err)
		os.Exit(1)
	}
	appendOne := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		d := entryData(i)
		if idx, err := l.Append(ctx, d); err != nil {
			fmt.Println("err", err)
		} else {
			fmt.Printf("ack %d %s", idx, d)
		}
	}
	for i := range 20 {
		appendOne(i)
	}
	time.Sleep(200 * time.Millisecond) // integrated, checkpointed
	var held []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		held = append(held, f)
	}
	fmt.Println("exhausted", len(held))
	for i := 20; i < 40; i++ {
		appendOne(i)
		time.Sleep(30 * time.Millisecond) // a Tessera batch each
	}
	for _, f := range held {
		f.Close()
	}
	fmt.Println("released")
	appendOne(40)
	if err := l.Close(); err != nil {
		fmt.Println("close", err)
	}
	fmt.Println("done")
	os.Exit(0)
}

type fdRun struct {
	acked  map[uint64]string
	errs   []string
	out    string
	exit   error
	dir    string
	skey   string
	vkey   string
	panics bool
}

func runFDChild(t *testing.T, name string) *fdRun {
	t.Helper()
	r := &fdRun{acked: map[uint64]string{}, dir: t.TempDir()}
	r.skey, r.vkey = testKey(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+name+"$")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+r.dir, "TRANSLOG_FD_CHILD_KEY="+r.skey)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	r.out, r.exit = string(out), err
	for _, line := range strings.Split(r.out, "\n") {
		switch {
		case strings.HasPrefix(line, "ack "):
			f := strings.SplitN(line, " ", 3)
			idx, _ := strconv.ParseUint(f[1], 10, 64)
			r.acked[idx] = f[2] + "\n"
		case strings.HasPrefix(line, "err "):
			r.errs = append(r.errs, line)
		case strings.HasPrefix(line, "setup "):
			t.Fatalf("child: %s", line)
		}
	}
	if i := strings.Index(stderr.String(), "panic: "); i >= 0 {
		r.panics = true
		end := min(len(stderr.String()), i+400)
		t.Logf("the child panicked: %s", stderr.String()[i:end])
	}
	t.Logf("child: exit %v, %d acknowledged, %d refused", err, len(r.acked), len(r.errs))
	return r
}

// TestStorageOutOfFDsNoLoss: however the log reacts to running out of file
// descriptors, every entry it acknowledged is in it afterwards, and it
// verifies.
func TestStorageOutOfFDsNoLoss(t *testing.T) {
	if os.Getenv(fdChildEnv) != "" {
		fdChild()
	}
	r := runFDChild(t, "TestStorageOutOfFDsNoLoss")
	if len(r.acked) < 20 {
		t.Fatalf("the child acknowledged only %d entries before running out of descriptors:\n%s", len(r.acked), r.out)
	}
	sf := &storageFault{dir: r.dir, skey: r.skey, vkey: r.vkey, st: &sideStore{}, acked: r.acked}
	sf.checkRecovered(t)
}

// TestStorageOutOfFDsFailsClosed: out of file descriptors, Appends that
// cannot be made durable fail, the process does not crash, and Close
// returns.
func TestStorageOutOfFDsFailsClosed(t *testing.T) {
	if os.Getenv(fdChildEnv) != "" {
		fdChild()
	}
	t.Skip("known bug: Tessera panics when it cannot open its lock file, in the integration goroutine, so running out of file descriptors (EMFILE) kills the whole process (custodes serve) — tessera v1.0.4 storage/posix/files.go:264-266 (appender.sequenceBatch: `if err != nil { panic(err) }` after lockFile); no entry is lost (TestStorageOutOfFDsNoLoss), but the gateway goes down instead of failing closed; needs an upstream fix, or the lock file opened once and kept")
	r := runFDChild(t, "TestStorageOutOfFDsFailsClosed")
	if r.panics || r.exit != nil || !strings.Contains(r.out, "done") {
		t.Fatalf("the child did not survive running out of descriptors: exit %v\n%s", r.exit, r.out)
	}
}
