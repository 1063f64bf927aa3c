package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodes/custodes/translog"
	"github.com/custodes/custodes/witness"
)

// syncBuffer is a bytes.Buffer the witness's logger and the test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startWitness runs custodes witness until the test ends and returns its
// URL and the lines it printed first.
func startWitness(t *testing.T, args ...string) (url string, banner []string, stderr *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runWitness(ctx, &env{stdout: pw, stderr: stderr}, args)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("custodes witness: %v", err)
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		banner = append(banner, sc.Text())
		if strings.HasPrefix(sc.Text(), "witnessing log: ") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if len(banner) < 3 {
		t.Fatalf("custodes witness printed %q; stderr %s", banner, stderr)
	}
	addr, ok := strings.CutPrefix(banner[0], "witness witness.example/w1 listening on ")
	if !ok {
		t.Fatalf("banner %q", banner[0])
	}
	return strings.TrimSuffix(addr, " (POST /add-checkpoint)"), banner, stderr
}

func growLog(t *testing.T, dir, skey string, n int, tag string) []byte {
	t.Helper()
	l, err := translog.Open(t.Context(), translog.Options{Dir: dir, SignerKey: skey, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(t.Context(), []byte(tag+strings.Repeat("!", i)+"\n")); err != nil {
			t.Fatal(err)
		}
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

// TestWitnessCommand runs custodes witness as an operator would and talks
// to it as a log would: consistent growth is cosigned, a fork refused, and
// the state outlives a restart.
func TestWitnessCommand(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := runKeygen(t.Context(), &env{stdout: &out, stderr: &out}, []string{"--origin", "witness.example/w1", "--out", filepath.Join(dir, "w1")}); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := translog.GenerateKey("test.custodes/agency")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "log.pub"), []byte(vkey+"\n"), 0o644)
	args := []string{"--listen", "127.0.0.1:0", "--key", filepath.Join(dir, "w1.key"),
		"--log-key", filepath.Join(dir, "log.pub"), "--state", filepath.Join(dir, "state")}

	url, banner, _ := startWitness(t, args...)
	if !strings.HasPrefix(banner[1], "cosignature key: witness.example/w1+") || banner[2] != "witnessing log: test.custodes/agency" {
		t.Errorf("banner %q", banner)
	}
	wkey := strings.TrimPrefix(banner[1], "cosignature key: ")

	logDir, forkDir := filepath.Join(dir, "log"), filepath.Join(dir, "fork")
	cp4 := growLog(t, logDir, skey, 4, "entry")
	cp9 := growLog(t, logDir, skey, 5, "more")
	fork9 := growLog(t, forkDir, skey, 9, "forked")
	src, _ := translog.OpenSource(logDir)

	ctx := t.Context()
	sigs, err := witness.Submit(ctx, url, 0, nil, cp4)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{wkey, strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "w1.pub"))))} {
		if names, err := witness.VerifyCosignatures(append(cp4, sigs...), []string{k}); err != nil || len(names) != 1 {
			t.Errorf("cosignature of the first checkpoint, with %s: %v %v", k, names, err)
		}
	}
	proof, err := translog.ConsistencyProof(ctx, src, 4, 9)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := witness.Submit(ctx, url, 4, proof, cp9); err != nil {
		t.Fatalf("consistent growth: %v", err)
	}
	_, err = witness.Submit(ctx, url, 9, nil, fork9)
	var conflict *witness.ConflictError
	if !errors.As(err, &conflict) || !conflict.Fork {
		t.Errorf("fork of the same size: %v", err)
	}

	// A second witness on the same state directory, while the first runs,
	// is refused.
	if err := runWitness(ctx, &env{stdout: io.Discard, stderr: io.Discard}, args); err == nil || !strings.Contains(err.Error(), "another witness") {
		t.Errorf("a second witness on the same state: %v", err)
	}
}

func TestWitnessCommandRestart(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	runKeygen(t.Context(), &env{stdout: &out, stderr: &out}, []string{"--origin", "witness.example/w1", "--out", filepath.Join(dir, "w1")})
	skey, vkey, _ := translog.GenerateKey("test.custodes/agency")
	args := []string{"--listen", "127.0.0.1:0", "--key", filepath.Join(dir, "w1.key"), "--log-key", vkey, "--state", filepath.Join(dir, "state")}
	cp := growLog(t, filepath.Join(dir, "log"), skey, 3, "entry")

	t.Run("first", func(t *testing.T) {
		url, _, _ := startWitness(t, args...)
		if _, err := witness.Submit(t.Context(), url, 0, nil, cp); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("second", func(t *testing.T) {
		url, _, _ := startWitness(t, args...)
		_, err := witness.Submit(t.Context(), url, 0, nil, cp)
		var conflict *witness.ConflictError
		if !errors.As(err, &conflict) || conflict.Size != 3 {
			t.Fatalf("after a restart: %v, want a conflict at 3", err)
		}
	})
}

func TestWitnessCommandUsage(t *testing.T) {
	var stderr bytes.Buffer
	err := runWitness(t.Context(), &env{stdout: io.Discard, stderr: &stderr}, []string{"--listen", "127.0.0.1:0"})
	if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "--key, --log-key and --state are required") {
		t.Errorf("no key: %v %q", err, stderr.String())
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
