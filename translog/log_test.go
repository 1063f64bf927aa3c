package translog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "test.custodes/agency"

func testKey(t testing.TB) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

func openLog(t testing.TB, dir, skey string) *Log {
	t.Helper()
	l, err := Open(context.Background(), Options{Dir: dir, SignerKey: skey, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func entryData(i int) []byte { return fmt.Appendf(nil, "entry %d\n", i) }

// appendN appends n entries from workers goroutines and returns the data
// stored at each index.
func appendN(t testing.TB, l *Log, n, workers, offset int) map[uint64]string {
	t.Helper()
	var (
		mu  sync.Mutex
		got = map[uint64]string{}
		wg  sync.WaitGroup
	)
	next := make(chan int)
	go func() {
		for i := range n {
			next <- offset + i
		}
		close(next)
	}()
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for i := range next {
				d := entryData(i)
				idx, err := l.Append(t.Context(), d)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, dup := got[idx]; dup {
					errs <- fmt.Errorf("index %d returned for %q and %q", idx, prev, d)
				}
				got[idx] = string(d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return got
}

func TestGenerateKey(t *testing.T) {
	// Enough keys that some have a + in their base64.
	for range 20 {
		skey, vkey := testKey(t)
		got, err := verifierKey(skey)
		if err != nil || got != vkey {
			t.Fatalf("verifierKey(%q) = %q, %v; want %q", skey, got, err, vkey)
		}
	}
	for _, bad := range []string{"", "a+b", "has space"} {
		if _, _, err := GenerateKey(bad); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", bad)
		}
	}
}

func TestAppendConcurrent(t *testing.T) {
	dir := t.TempDir()
	skey, vkey := testKey(t)
	l := openLog(t, dir, skey)
	if l.Origin() != testOrigin || l.VerifierKey() != vkey {
		t.Errorf("Origin, VerifierKey = %q, %q", l.Origin(), l.VerifierKey())
	}
	const n = 1000
	got := appendN(t, l, n, 16, 0)
	for i := range uint64(n) {
		if _, ok := got[i]; !ok {
			t.Fatalf("index %d was not returned: indices are not dense", i)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	res, err := Verify(t.Context(), src, vkey, VerifyOptions{Entry: func(i uint64, b []byte) error {
		if got[i] != string(b) {
			return fmt.Errorf("entry %d is %q, Append stored %q there", i, b, got[i])
		}
		seen++
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != n || res.Entries != n || seen != n {
		t.Errorf("verified size %d, %d entries, %d seen; want %d", res.Size, res.Entries, seen, n)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	skey, vkey := testKey(t)
	l := openLog(t, dir, skey)
	appendN(t, l, 300, 8, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), []byte("late")); err == nil {
		t.Error("Append after Close succeeded")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	l = openLog(t, dir, skey)
	for i := range 3 {
		// The same bytes twice must still be two entries.
		idx, err := l.Append(t.Context(), []byte("same"))
		if err != nil {
			t.Fatal(err)
		}
		if idx != uint64(300+i) {
			t.Errorf("after reopening, Append returned %d, want %d", idx, 300+i)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	src, _ := OpenSource(dir)
	res, err := Verify(t.Context(), src, vkey, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 303 {
		t.Errorf("size %d, want 303", res.Size)
	}

	other, _ := testKey(t)
	if l, err := Open(t.Context(), Options{Dir: dir, SignerKey: other}); err == nil {
		l.Close()
		t.Error("Open with another key succeeded")
	}
}

func TestAppendRejects(t *testing.T) {
	skey, _ := testKey(t)
	l := openLog(t, t.TempDir(), skey)
	defer l.Close()
	if _, err := l.Append(t.Context(), make([]byte, MaxEntrySize+1)); err == nil {
		t.Error("Append of an oversized entry succeeded")
	}
	if _, err := l.Append(t.Context(), make([]byte, MaxEntrySize)); err != nil {
		t.Errorf("Append of a MaxEntrySize entry: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Append(ctx, []byte("x")); err == nil {
		t.Error("Append with a cancelled context succeeded")
	}
	if _, err := Open(t.Context(), Options{Dir: t.TempDir(), SignerKey: "nonsense"}); err == nil {
		t.Error("Open with a bad key succeeded")
	}
}

// TestKillDurability checks the Append contract against kill -9: a child
// process appends and reports each index Append returned; the parent kills
// it mid-stream, reopens the log, and verifies every reported entry is
// there.
func TestKillDurability(t *testing.T) {
	if os.Getenv("TRANSLOG_CHILD_DIR") != "" {
		childAppender()
		return
	}
	dir := t.TempDir()
	skey, vkey := testKey(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDurability$")
	cmd.Env = append(os.Environ(), "TRANSLOG_CHILD_DIR="+dir, "TRANSLOG_CHILD_KEY="+skey)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 500 {
		idx, data, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		i, err := strconv.ParseUint(idx, 10, 64)
		if err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		acked[i] = data + "\n"
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(acked) < 500 {
		t.Fatalf("child acknowledged only %d entries", len(acked))
	}

	l := openLog(t, dir, skey)
	// An entry of our own makes Close wait for a checkpoint covering the
	// child's entries too.
	if _, err := l.Append(t.Context(), []byte("after the crash")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	src, _ := OpenSource(dir)
	found := 0
	_, err = Verify(t.Context(), src, vkey, VerifyOptions{Entry: func(i uint64, b []byte) error {
		if want, ok := acked[i]; ok {
			if string(b) != want {
				return fmt.Errorf("entry %d is %q, acknowledged as %q", i, b, want)
			}
			found++
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if found != len(acked) {
		t.Errorf("%d of %d acknowledged entries survived kill -9", found, len(acked))
	}
}

func childAppender() {
	l, err := Open(context.Background(), Options{Dir: os.Getenv("TRANSLOG_CHILD_DIR"), SignerKey: os.Getenv("TRANSLOG_CHILD_KEY")})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; ; i += 16 {
				d := entryData(i)
				idx, err := l.Append(context.Background(), d)
				if err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Printf("%d %s", idx, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// BenchmarkAppend measures durable appends by concurrent appenders, through
// Log and, as the baseline, through Tessera alone with the same options; the
// entries/s metric is the throughput.
func BenchmarkAppend(b *testing.B) {
	entry := make([]byte, 400)
	for _, workers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("appenders=%d", workers), func(b *testing.B) {
			skey, _ := testKey(b)
			l, err := Open(context.Background(), Options{Dir: b.TempDir(), SignerKey: skey})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			runAppenders(b, workers, func() error {
				_, err := l.Append(context.Background(), entry)
				return err
			})
		})
		b.Run(fmt.Sprintf("tessera/appenders=%d", workers), func(b *testing.B) {
			skey, _ := testKey(b)
			signer, _ := note.NewSigner(skey)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			driver, err := posix.New(ctx, posix.Config{Path: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			a, shutdown, _, err := tessera.NewAppender(ctx, driver, tessera.NewAppendOptions().
				WithCheckpointSigner(signer).WithCheckpointInterval(defaultCheckpointInterval).
				WithBatching(defaultBatchMaxSize, defaultBatchMaxAge))
			if err != nil {
				b.Fatal(err)
			}
			defer shutdown(ctx)
			runAppenders(b, workers, func() error {
				_, err := a.Add(ctx, tessera.NewEntry(entry))()
				return err
			})
		})
	}
}

func runAppenders(b *testing.B, workers int, add func() error) {
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := add(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

// TestAppendsShareFlushes checks that concurrent Appends are group
// committed: 200 concurrent Appends take far fewer journal fdatasyncs, and
// all of them reach Tessera by Close.
func TestAppendsShareFlushes(t *testing.T) {
	skey, vkey := testKey(t)
	dir := t.TempDir()
	l := openLog(t, dir, skey)
	const n = 200
	appendN(t, l, n, n, 0)
	syncs := l.journal.syncs.Load()
	t.Logf("%d appenders shared %d fdatasyncs", n, syncs)
	if syncs == 0 || syncs > n/4 {
		t.Errorf("%d concurrent Appends took %d fdatasyncs", n, syncs)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := verifyDir(t, dir, vkey, VerifyOptions{})
	if err != nil || res.Size != n {
		t.Fatalf("after Close: %+v %v", res, err)
	}
}
