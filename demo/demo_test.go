package demo_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodes/custodes/demo"
	"github.com/custodes/custodes/pgcluster"
	"github.com/custodes/custodes/translog"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for the demo's writer and the test's
// reader.
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

var verifiedRE = regexp.MustCompile(`verified (\d+) entries`)

// TestScenario runs the demo as a user would, twice on the same directory:
// the scripted tour must pass both times, and the second run must continue
// the same log.
func TestScenario(t *testing.T) {
	if _, err := pgcluster.FindBinaries(""); errors.Is(err, pgcluster.ErrNoBinaries) {
		t.Skip("no PostgreSQL server binaries on this machine:", err)
	}
	tmp := t.TempDir()
	// PostgreSQL runs as user postgres when the test runs as root; it must
	// be able to reach the data directory.
	os.Chmod(filepath.Dir(tmp), 0o755)
	os.Chmod(tmp, 0o755)
	dir := filepath.Join(tmp, "demo")
	var sizes []int
	for run := 1; run <= 2; run++ {
		var out syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := demo.Run(ctx, demo.Options{
			Dir: dir, Persons: 2500, Listen: freeAddr(t), HTTP: freeAddr(t),
			Scenario: true, Stdout: &out,
		})
		cancel()
		t.Logf("run %d:\n%s", run, out.String())
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		text := out.String()
		for _, want := range []string{"custodes: ready\n", "scenario: every outcome was as expected", "psql \"postgres://alice:alice@", "custodes verify --log"} {
			if !strings.Contains(text, want) {
				t.Fatalf("run %d: output lacks %q", run, want)
			}
		}
		m := verifiedRE.FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("run %d: no verification line", run)
		}
		n, _ := strconv.Atoi(m[1])
		sizes = append(sizes, n)
	}
	if sizes[1] <= sizes[0] {
		t.Fatalf("second run did not continue the log: sizes %v", sizes)
	}
	for _, f := range []string{"custodes.yaml", "log.pub", "operator.token", "log.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("demo did not write %s: %v", f, err)
		}
	}

	// One changed byte of an entry bundle fails verification.
	vkey, _ := os.ReadFile(filepath.Join(dir, "log.pub"))
	// The entry bundle the checkpoint covers: with fewer than 256 entries,
	// the partial bundle tile/entries/000.p/SIZE (C2SP tlog-tiles).
	cp, err := os.ReadFile(filepath.Join(dir, "log", "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	size := strings.Split(string(cp), "\n")[1]
	if n, _ := strconv.Atoi(size); n >= 256 {
		t.Fatalf("log has %d entries; the test expects fewer than 256", n)
	}
	bundle := filepath.Join(dir, "log", "tile", "entries", "000.p", size)
	b, _ := os.ReadFile(bundle)
	b[len(b)/2] ^= 0x20
	os.WriteFile(bundle, b, 0o644)
	src, _ := translog.OpenSource(filepath.Join(dir, "log"))
	if _, err := translog.Verify(context.Background(), src, strings.TrimSpace(string(vkey)), translog.VerifyOptions{}); err == nil {
		t.Fatal("a modified entry bundle verified")
	}
}
