package witness_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/translog"
	"github.com/custodes/custodes/witness"
)

const origin = "test.custodes/agency"

// grow appends n entries tagged tag to the log in dir and returns the
// checkpoint published on Close.
func grow(t testing.TB, dir, skey string, n int, tag string) []byte {
	t.Helper()
	l, err := translog.Open(t.Context(), translog.Options{Dir: dir, SignerKey: skey, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := l.Append(t.Context(), fmt.Appendf(nil, "%s %d\n", tag, i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func consistency(t testing.TB, dir string, size1, size2 uint64) [][]byte {
	t.Helper()
	src, err := translog.OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := translog.ConsistencyProof(t.Context(), src, size1, size2)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// logs is a log grown in three steps, and a fork of it under the same key.
type logs struct {
	dir, fork          string
	skey, vkey         string
	cp3, cp10, cp300   []byte
	forkCp10, forkCp12 []byte
}

var (
	logsOnce sync.Once
	logsVal  logs
)

func getLogs(t testing.TB) logs {
	t.Helper()
	logsOnce.Do(func() {
		skey, vkey, err := translog.GenerateKey(origin)
		if err != nil {
			t.Fatal(err)
		}
		// Shared by the tests, so not t.TempDir (gone when the first ends).
		l := logs{dir: tempDir(t), fork: tempDir(t), skey: skey, vkey: vkey}
		l.cp3 = grow(t, l.dir, skey, 3, "entry")
		l.cp10 = grow(t, l.dir, skey, 7, "entry")
		l.cp300 = grow(t, l.dir, skey, 290, "entry")
		l.forkCp10 = grow(t, l.fork, skey, 10, "forked")
		l.forkCp12 = grow(t, l.fork, skey, 2, "forked")
		logsVal = l
	})
	if logsVal.dir == "" {
		t.Fatal("no logs")
	}
	return logsVal
}

var tempDirs []string

func tempDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "witness-test")
	if err != nil {
		t.Fatal(err)
	}
	tempDirs = append(tempDirs, d)
	return d
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

type testWitness struct {
	*witness.Witness
	url, dir string
	store    *witness.DirStore
	plainKey string // the witness's Ed25519 vkey, as custodes keygen writes it
}

func newWitness(t *testing.T, dir, skey, plainKey string, logKeys ...string) *testWitness {
	t.Helper()
	store, err := witness.OpenDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w, err := witness.New(witness.Config{SignerKey: skey, LogKeys: logKeys, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return &testWitness{Witness: w, url: srv.URL + "/", dir: dir, store: store, plainKey: plainKey}
}

func witnessKey(t testing.TB, name string) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

func submitOK(t *testing.T, w *testWitness, old uint64, proof [][]byte, cp []byte) []byte {
	t.Helper()
	sigs, err := witness.Submit(t.Context(), w.url, old, proof, cp)
	if err != nil {
		t.Fatalf("Submit(old %d): %v", old, err)
	}
	// Tessera's own witness policy, which a log would use, accepts it.
	tw, err := tessera.NewWitness(w.VerifierKey(), mustURL(t, w.url))
	if err != nil || !tw.Satisfied(append(bytes.Clone(cp), sigs...)) {
		t.Fatalf("Tessera doesn't accept the cosignature from Submit(old %d): %v", old, err)
	}
	// Both spellings of the witness's key verify the cosignature.
	for _, k := range []string{w.VerifierKey(), w.plainKey} {
		names, err := witness.VerifyCosignatures(append(bytes.Clone(cp), sigs...), []string{k})
		if err != nil || len(names) != 1 || names[0] != w.Name() {
			t.Fatalf("cosignature from Submit(old %d) checked with %s: %v, %v", old, k, names, err)
		}
	}
	return sigs
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func wantConflict(t *testing.T, err error, size uint64, fork bool) {
	t.Helper()
	var c *witness.ConflictError
	if !errors.As(err, &c) || c.Size != size || c.Fork != fork {
		t.Fatalf("got %v, want a conflict at size %d (fork %v)", err, size, fork)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
}

// TestWitness runs a witness over HTTP against a real log that grows, and
// a fork of it that tries to get cosigned.
func TestWitness(t *testing.T) {
	l := getLogs(t)
	skey, plain := witnessKey(t, "witness.example/w1")
	w := newWitness(t, t.TempDir(), skey, plain, l.vkey)
	ctx := t.Context()

	// First contact: trust on first use.
	submitOK(t, w, 0, nil, l.cp3)
	// A client that doesn't know the witness's size learns it.
	_, err := witness.Submit(ctx, w.url, 0, nil, l.cp10)
	wantConflict(t, err, 3, false)
	// Consistent growth is cosigned.
	submitOK(t, w, 3, consistency(t, l.dir, 3, 10), l.cp10)
	// The same checkpoint again, too (a fresh timestamp).
	submitOK(t, w, 10, nil, l.cp10)

	// The fork: same size, another root.
	_, err = witness.Submit(ctx, w.url, 10, nil, l.forkCp10)
	wantConflict(t, err, 10, true)
	// The fork grown, with a proof from its own tiles.
	_, err = witness.Submit(ctx, w.url, 10, consistency(t, l.fork, 10, 12), l.forkCp12)
	wantErr(t, err, witness.ErrInconsistent)
	// The real log's proof doesn't help the fork either.
	_, err = witness.Submit(ctx, w.url, 10, consistency(t, l.dir, 10, 12), l.forkCp12)
	wantErr(t, err, witness.ErrInconsistent)

	// A damaged proof is refused, the right one accepted.
	p := consistency(t, l.dir, 10, 300)
	for i := range p {
		bad := append([][]byte{}, p...)
		bad[i] = bytes.Clone(p[i])
		bad[i][0] ^= 1
		_, err = witness.Submit(ctx, w.url, 10, bad, l.cp300)
		wantErr(t, err, witness.ErrInconsistent)
	}
	_, err = witness.Submit(ctx, w.url, 10, p[1:], l.cp300)
	wantErr(t, err, witness.ErrInconsistent)
	submitOK(t, w, 10, p, l.cp300)

	// Rollback: an older checkpoint is never cosigned again.
	_, err = witness.Submit(ctx, w.url, 300, nil, l.cp10)
	wantErr(t, err, witness.ErrMalformed)
	_, err = witness.Submit(ctx, w.url, 10, nil, l.cp10)
	wantConflict(t, err, 300, false)

	// Unknown logs, and a checkpoint for our origin under a stranger's key.
	otherSkey, _, _ := translog.GenerateKey("other.example/log")
	otherCp := grow(t, t.TempDir(), otherSkey, 1, "other")
	_, err = witness.Submit(ctx, w.url, 0, nil, otherCp)
	wantErr(t, err, witness.ErrUnknownLog)
	impostor, _, _ := translog.GenerateKey(origin)
	impostorCp := grow(t, t.TempDir(), impostor, 1, "impostor")
	_, err = witness.Submit(ctx, w.url, 0, nil, impostorCp)
	wantErr(t, err, witness.ErrNotSigned)
	// A forged log signature (one base64 digit changed).
	forged := bytes.Clone(l.cp300)
	if i := len(forged) - 10; forged[i] == 'A' {
		forged[i] = 'B'
	} else {
		forged[i] = 'A'
	}
	_, err = witness.Submit(ctx, w.url, 300, nil, forged)
	wantErr(t, err, witness.ErrNotSigned)

	// The state survives a restart: a new witness on the same directory
	// knows the log is at 300.
	w.store.Close()
	w2 := newWitness(t, w.dir, skey, plain, l.vkey)
	_, err = witness.Submit(ctx, w2.url, 0, nil, l.cp300)
	wantConflict(t, err, 300, false)
	_, err = witness.Submit(ctx, w2.url, 300, nil, l.forkCp12)
	wantErr(t, err, witness.ErrMalformed) // old size beyond the fork's 12
	submitOK(t, w2, 300, nil, l.cp300)
}

// TestWitnessConcurrent: requests racing from the same old size get at most
// one size cosigned; the others learn the new size.
func TestWitnessConcurrent(t *testing.T) {
	l := getLogs(t)
	skey, plain := witnessKey(t, "witness.example/w2")
	w := newWitness(t, t.TempDir(), skey, plain, l.vkey)
	submitOK(t, w, 0, nil, l.cp3)
	cps := map[uint64][]byte{10: l.cp10, 300: l.cp300}
	var wg sync.WaitGroup
	results := make(chan error, 20)
	for i := range 20 {
		size := uint64(10)
		if i%2 == 1 {
			size = 300
		}
		proof := consistency(t, l.dir, 3, size)
		wg.Go(func() {
			_, err := witness.Submit(t.Context(), w.url, 3, proof, cps[size])
			results <- err
		})
	}
	wg.Wait()
	close(results)
	ok, conflicts := 0, 0
	for err := range results {
		var c *witness.ConflictError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &c):
			conflicts++
		default:
			t.Error(err)
		}
	}
	// Each success moved the state off size 3, so exactly one succeeded.
	if ok != 1 || conflicts != 19 {
		t.Errorf("%d cosigned, %d conflicts; want 1 and 19", ok, conflicts)
	}
}

// TestHTTP checks the wire format against the spec directly, without Submit.
func TestHTTP(t *testing.T) {
	l := getLogs(t)
	skey, plain := witnessKey(t, "witness.example/w3")
	w := newWitness(t, t.TempDir(), skey, plain, l.vkey)
	post := func(body string) (int, string, string) {
		t.Helper()
		resp, err := http.Post(w.url+"add-checkpoint", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	code, _, body := post("old 0\n\n" + string(l.cp10))
	if code != 200 || !strings.HasPrefix(body, "— witness.example/w3 ") || !strings.HasSuffix(body, "\n") || strings.Count(body, "\n") != 1 {
		t.Errorf("add-checkpoint: %d %q", code, body)
	}
	code, ctype, body := post("old 3\n\n" + string(l.cp10))
	if code != 409 || ctype != "text/x.tlog.size" || body != "10\n" {
		t.Errorf("conflict: %d %q %q", code, ctype, body)
	}
	for name, tc := range map[string]struct {
		body string
		code int
	}{
		"no old line":       {"\n" + string(l.cp10), 400},
		"leading zero":      {"old 010\n\n" + string(l.cp10), 400},
		"no blank line":     {"old 10\n" + string(l.cp10), 400},
		"short hash":        {"old 10\nAAAA\n\n" + string(l.cp10), 400},
		"not a note":        {"old 10\n\n" + string(l.cp10[:20]), 400},
		"proof equal sizes": {"old 10\n" + strings.Repeat("A", 43) + "=\n\n" + string(l.cp10), 422},
		"too large":         {"old 10\n\n" + strings.Repeat("x", 70000), 413},
	} {
		if code, _, body := post(tc.body); code != tc.code {
			t.Errorf("%s: %d %q, want %d", name, code, body, tc.code)
		}
	}
	resp, err := http.Get(w.url + "add-checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	resp, err = http.Post(w.url+"checkpoint", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("other path: %d", resp.StatusCode)
	}
}

func TestVerifyCosignatures(t *testing.T) {
	l := getLogs(t)
	skey1, plain1 := witnessKey(t, "witness.example/a")
	skey2, plain2 := witnessKey(t, "witness.example/b")
	w1 := newWitness(t, t.TempDir(), skey1, plain1, l.vkey)
	w2 := newWitness(t, t.TempDir(), skey2, plain2, l.vkey)
	cp := bytes.Clone(l.cp10)
	cp = append(cp, submitOK(t, w1, 0, nil, l.cp10)...)
	cp = append(cp, submitOK(t, w2, 0, nil, l.cp10)...)

	names, err := witness.VerifyCosignatures(cp, []string{w1.VerifierKey(), plain2, w1.VerifierKey()})
	if err != nil || len(names) != 2 {
		t.Errorf("two witnesses: %v, %v", names, err)
	}
	_, stranger := witnessKey(t, "witness.example/c")
	names, err = witness.VerifyCosignatures(cp, []string{stranger})
	if err != nil || len(names) != 0 {
		t.Errorf("a witness that didn't cosign: %v, %v", names, err)
	}
	// The log's own signature is no cosignature.
	names, err = witness.VerifyCosignatures(l.cp10, []string{plain1})
	if err != nil || len(names) != 0 {
		t.Errorf("log signature only: %v, %v", names, err)
	}
	// A cosignature on another checkpoint doesn't transfer.
	moved := append(bytes.Clone(l.cp300), cp[len(l.cp10):]...)
	if _, err := witness.VerifyCosignatures(moved, []string{plain1}); err == nil {
		t.Error("a cosignature moved to another checkpoint verified")
	}
	if _, err := witness.VerifyCosignatures(cp, []string{"garbage"}); err == nil {
		t.Error("a malformed key was accepted")
	}
}

func TestDirStoreLock(t *testing.T) {
	dir := t.TempDir()
	s, err := witness.OpenDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := witness.OpenDirStore(dir); err == nil {
		t.Error("a second store opened the same directory")
	}
	if b, err := s.Get(origin); b != nil || err != nil {
		t.Errorf("empty store: %q, %v", b, err)
	}
	if err := s.Put(origin, []byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Get(origin); string(b) != "x\n" || err != nil {
		t.Errorf("after Put: %q, %v", b, err)
	}
	s.Close()
	s, err = witness.OpenDirStore(dir)
	if err != nil {
		t.Fatalf("reopening after Close: %v", err)
	}
	defer s.Close()
	if b, _ := s.Get(origin); string(b) != "x\n" {
		t.Errorf("after reopening: %q", b)
	}
}

// TestDamagedState: a witness whose state doesn't verify refuses to cosign.
func TestDamagedState(t *testing.T) {
	l := getLogs(t)
	skey, plain := witnessKey(t, "witness.example/w4")
	dir := t.TempDir()
	w := newWitness(t, dir, skey, plain, l.vkey)
	submitOK(t, w, 0, nil, l.cp3)
	files, _ := filepath.Glob(filepath.Join(dir, "log-*.checkpoint"))
	if len(files) != 1 {
		t.Fatalf("state files %v", files)
	}
	os.WriteFile(files[0], l.forkCp12[:len(l.forkCp12)-3], 0o600)
	_, err := witness.Submit(context.Background(), w.url, 3, consistency(t, l.dir, 3, 10), l.cp10)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("damaged state: %v", err)
	}
}

// TestTesseraLog: a translog.Log configured with this witness publishes
// only cosigned checkpoints, across reopenings (when Tessera's witness
// client starts from size 0 and learns the witness's size from a 409).
func TestTesseraLog(t *testing.T) {
	l := getLogs(t)
	skey, plain := witnessKey(t, "witness.example/tessera")
	w := newWitness(t, t.TempDir(), skey, plain, l.vkey)
	dir := t.TempDir()
	for round, n := range []int{3, 5, 2} {
		lg, err := translog.Open(t.Context(), translog.Options{Dir: dir, SignerKey: l.skey, CheckpointInterval: 100 * time.Millisecond,
			Witnesses: []translog.Witness{{URL: w.url, Key: w.VerifierKey()}}, MinCosignatures: 1})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, err := lg.Append(t.Context(), fmt.Appendf(nil, "round %d entry %d\n", round, i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := lg.Close(); err != nil {
			t.Fatal(err)
		}
		cp, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
		if err != nil {
			t.Fatal(err)
		}
		names, err := witness.VerifyCosignatures(cp, []string{plain})
		if err != nil || len(names) != 1 {
			t.Fatalf("round %d: checkpoint\n%s\ncosigned by %v (%v)", round, cp, names, err)
		}
	}
}

// FuzzAddCheckpoint sends fuzzed add-checkpoint bodies — the checkpoint
// note, its signatures and the consistency proof are all the submitter's —
// to a witness of the test log, in process. Whatever comes in: no panic,
// only 200, 4xx or 409 answers, and a 200 is a cosignature of the submitted
// checkpoint that verifies. Then the cosigned checkpoint's signature block,
// fuzzed too, through VerifyCosignatures.
func FuzzAddCheckpoint(f *testing.F) {
	l := getLogs(f)
	skey, plain := witnessKey(f, "witness.example/fuzz")
	for _, seed := range [][]byte{
		formatRequestForTest(0, nil, l.cp3),
		formatRequestForTest(0, nil, l.cp10),
		formatRequestForTest(3, consistency(f, l.dir, 3, 10), l.cp10),
		formatRequestForTest(0, nil, l.forkCp10),
		[]byte("old 0\n\nnot a checkpoint\n"),
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	store, err := witness.OpenDirStore(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	w, err := witness.New(witness.Config{SignerKey: skey, LogKeys: []string{l.vkey}, Store: store})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/add-checkpoint", bytes.NewReader(body)))
		switch code := rec.Code; {
		case code == http.StatusOK:
			_, cp, ok := bytes.Cut(body, []byte("\n\n"))
			if !ok {
				t.Fatalf("200 for a body without a blank line: %q", body)
			}
			names, err := witness.VerifyCosignatures(append(bytes.Clone(cp), rec.Body.Bytes()...), []string{plain})
			if err != nil || len(names) != 1 {
				t.Fatalf("200, but its cosignature of %q does not verify: %v %v", cp, names, err)
			}
		case code == http.StatusConflict, code >= 400 && code < 500:
		default:
			t.Fatalf("answered %d to %q", code, body)
		}
		witness.VerifyCosignatures(body, []string{plain, w.VerifierKey()})
	})
}

// formatRequestForTest is an add-checkpoint body (see request.go).
func formatRequestForTest(old uint64, proof [][]byte, cp []byte) []byte {
	b := fmt.Appendf(nil, "old %d\n", old)
	for _, h := range proof {
		b = append(base64.StdEncoding.AppendEncode(b, h), '\n')
	}
	return append(append(b, '\n'), cp...)
}
