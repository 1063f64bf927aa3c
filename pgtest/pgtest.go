// Package pgtest gives a package's tests one private PostgreSQL cluster,
// shared by all of them, and a fresh database per test.
//
// Wire it into TestMain, then ask for databases in tests:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.NewDatabase(t) // superuser URL of an empty database
//		...
//	}
//
// The cluster starts on first use, so packages whose selected tests need no
// database pay nothing, and it stops, its directory removed, when the tests
// end. When the machine has no PostgreSQL server binaries, tests that ask for
// it are skipped.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodes/custodes/pgcluster"
	"github.com/jackc/pgx/v5"
)

var (
	mu      sync.Mutex
	inMain  bool
	tmpDir  string
	cluster *pgcluster.Cluster
	failure error // the first start's error; later callers get it too
)

// Main runs the tests of a package and then stops the shared cluster, if a
// test started it. Call it from TestMain.
func Main(m *testing.M) {
	mu.Lock()
	inMain = true
	mu.Unlock()
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// Cluster returns the shared cluster, starting it on the first call. It
// skips t when there are no PostgreSQL server binaries and fails t on any
// other trouble.
func Cluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !inMain {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main, which stops the shared cluster")
	}
	if cluster == nil && failure == nil {
		cluster, failure = start()
	}
	if errors.Is(failure, pgcluster.ErrNoBinaries) {
		t.Skipf("pgtest: skipping, PostgreSQL is not installed: %v", failure)
	}
	if failure != nil {
		t.Fatalf("pgtest: %v", failure)
	}
	return cluster
}

func start() (*pgcluster.Cluster, error) {
	c, dir, err := startNew()
	if dir != "" {
		tmpDir = dir
	}
	return c, err
}

// Private starts a cluster of t's own, for a test that must crash or
// restart it (the shared one is never touched so). It is stopped and its
// directory removed when t ends; its data directory is its Dir, to start it
// again on (pgcluster.Start with the same Dir and Port; stopping such a
// successor is the test's).
func Private(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	c, dir, err := startNew()
	if dir != "" {
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	if errors.Is(err, pgcluster.ErrNoBinaries) {
		t.Skipf("pgtest: skipping, PostgreSQL is not installed: %v", err)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { c.Stop() }) // an error if a test killed it: nothing to stop
	return c
}

// startNew starts a cluster in a new temporary directory, which it returns
// (for removal) even when the start fails.
func startNew() (*pgcluster.Cluster, string, error) {
	if _, err := pgcluster.FindBinaries(""); err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, "", fmt.Errorf("couldn't create the cluster directory: %w", err)
	}
	// When we are root the server runs as the postgres user, which must be
	// able to reach its data directory inside this one.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, dir, fmt.Errorf("couldn't open up the cluster directory: %w", err)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pkg", "pgtest")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir + "/pg", Logger: log})
	if err != nil {
		return nil, dir, fmt.Errorf("couldn't start a cluster: %w", err)
	}
	return c, dir, nil
}

var (
	seq      atomic.Int64
	nonIdent = regexp.MustCompile(`[^a-z0-9]+`)
)

// NewDatabase creates an empty database with a unique name on the shared
// cluster and returns a superuser URL to it. The database is dropped when
// the test ends, even if connections to it are still open.
func NewDatabase(t testing.TB) string {
	t.Helper()
	c := Cluster(t)
	name := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	name = fmt.Sprintf("t%d_%.40s", seq.Add(1), name)

	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := admin(ctx, c, "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
		t.Fatalf("pgtest: couldn't create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := admin(ctx, c, "DROP DATABASE "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: couldn't drop database %s: %v", name, err)
		}
	})
	return c.SuperuserURL(name)
}

// admin runs one statement in the maintenance database.
func admin(ctx context.Context, c *pgcluster.Cluster, sql string) error {
	conn, err := pgx.Connect(ctx, c.SuperuserURL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
