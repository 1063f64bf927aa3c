package translog

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// fixture is a closed log of fixtureSize entries: two full bundles and a
// partial one, so tile levels 0 (full and partial) and 1 (partial).
type fixture struct {
	dir, skey, vkey string
	early           []byte // a checkpoint from when the log had earlySize entries
}

const (
	fixtureSize = 600
	earlySize   = 300
)

var (
	fixtureOnce sync.Once
	fixtureVal  fixture
	fixtureErr  error
)

func getFixture(t *testing.T) fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "translog-fixture")
		if err != nil {
			fixtureErr = err
			return
		}
		skey, vkey := testKey(t)
		l := openLog(t, dir, skey)
		appendN(t, l, earlySize, 16, 0)
		if err := l.Close(); err != nil {
			fixtureErr = err
			return
		}
		early, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
		if err != nil {
			fixtureErr = err
			return
		}
		l = openLog(t, dir, skey)
		appendN(t, l, fixtureSize-earlySize, 16, earlySize)
		fixtureErr = l.Close()
		fixtureVal = fixture{dir, skey, vkey, early}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureVal
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureVal.dir != "" {
		os.RemoveAll(fixtureVal.dir)
	}
	os.Exit(code)
}

// copyLog copies the fixture's public files, so a test can tamper with them.
func copyLog(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

func verifyDir(t *testing.T, dir, vkey string, opts VerifyOptions) (*Result, error) {
	t.Helper()
	src, err := OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	return Verify(t.Context(), src, vkey, opts)
}

func TestVerify(t *testing.T) {
	f := getFixture(t)
	var progress []uint64
	var next uint64
	res, err := verifyDir(t, f.dir, f.vkey, VerifyOptions{
		Entry: func(i uint64, b []byte) error {
			if i != next {
				return fmt.Errorf("entry %d out of order", i)
			}
			next++
			return nil
		},
		Progress: func(done, total uint64) {
			if total != fixtureSize {
				t.Errorf("Progress total %d", total)
			}
			progress = append(progress, done)
		},
		Previous: f.early,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != fixtureSize || res.Entries != fixtureSize || next != fixtureSize {
		t.Errorf("Result %+v after %d entries", res, next)
	}
	if want := []uint64{256, 512, 600}; fmt.Sprint(progress) != fmt.Sprint(want) {
		t.Errorf("Progress calls %v, want %v", progress, want)
	}
	cp, _ := os.ReadFile(filepath.Join(f.dir, "checkpoint"))
	if string(res.Checkpoint) != string(cp) || !strings.Contains(string(cp), fmt.Sprintf("\n%d\n", fixtureSize)) {
		t.Errorf("Result.Checkpoint = %q", res.Checkpoint)
	}
}

func TestVerifyHTTP(t *testing.T) {
	f := getFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/log/", http.StripPrefix("/log", Handler(f.dir)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, u := range []string{srv.URL + "/log/", srv.URL + "/log"} {
		src, err := OpenSource(u)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Verify(t.Context(), src, f.vkey, VerifyOptions{})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if res.Size != fixtureSize {
			t.Errorf("size %d", res.Size)
		}
	}

	// Tampering shows over HTTP too.
	dir := copyLog(t, f.dir)
	os.Remove(filepath.Join(dir, layout.TilePath(0, 1, 0)))
	srv2 := httptest.NewServer(http.StripPrefix("/log", Handler(dir)))
	defer srv2.Close()
	src, _ := OpenSource(srv2.URL + "/log/")
	_, err := Verify(t.Context(), src, f.vkey, VerifyOptions{})
	wantVerifyError(t, err, "tile is missing", layout.TilePath(0, 1, 0))
}

func wantVerifyError(t *testing.T, err error, reason, resource string) *VerifyError {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("got error %v, want a *VerifyError", err)
	}
	if !strings.Contains(ve.Reason, reason) || !strings.Contains(ve.Resource, resource) {
		t.Errorf("got reason %q about %q, want %q about %q", ve.Reason, ve.Resource, reason, resource)
	}
	if ve.Checkpoint == nil && resource != "checkpoint" {
		t.Error("evidence lacks the checkpoint")
	}
	if msg := ve.Error(); !strings.Contains(msg, reason) || !strings.Contains(msg, resource) {
		t.Errorf("Error() = %q lacks the reason or resource", msg)
	}
	return ve
}

func bundleEntries(t *testing.T, raw []byte) [][]byte {
	var b api.EntryBundle
	if err := b.UnmarshalText(raw); err != nil {
		t.Fatal(err)
	}
	return b.Entries
}

func flip(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyTamper(t *testing.T) {
	f := getFixture(t)
	bundle0 := layout.EntriesPath(0, 0)
	bundle2 := layout.EntriesPath(2, fixtureSize%256)
	tile0 := layout.TilePath(0, 0, 0)
	tile2 := layout.TilePath(0, 2, fixtureSize%256)
	tile1 := layout.TilePath(1, 0, fixtureSize/256)
	for _, tc := range []struct {
		name, reason, resource string
		tamper                 func(dir string)
		check                  func(*VerifyError)
	}{
		{"flip entry byte", "and its leaf hash in the tile disagree", bundle0, func(dir string) {
			flip(t, filepath.Join(dir, bundle0), 2+3) // inside entry 0's data
		}, func(ve *VerifyError) {
			if ve.Index != 0 || len(ve.Want) != 32 || len(ve.Got) != 32 {
				t.Errorf("evidence: index %d, want %x, got %x", ve.Index, ve.Want, ve.Got)
			}
		}},
		{"flip last entry byte", "and its leaf hash in the tile disagree", bundle2, func(dir string) {
			flip(t, filepath.Join(dir, bundle2), -2)
		}, func(ve *VerifyError) {
			if ve.Index != fixtureSize-1 {
				t.Errorf("index %d, want %d", ve.Index, fixtureSize-1)
			}
		}},
		{"flip length prefix", "", bundle0, func(dir string) {
			flip(t, filepath.Join(dir, bundle0), 1)
		}, nil},
		{"flip leaf tile byte", "and its leaf hash in the tile disagree", tile0, func(dir string) {
			flip(t, filepath.Join(dir, tile0), 32*7+4)
		}, func(ve *VerifyError) {
			if ve.Index != 7 {
				t.Errorf("index %d, want 7", ve.Index)
			}
		}},
		{"flip level-1 tile byte", "hash 1 of the tile differs", tile1, func(dir string) {
			flip(t, filepath.Join(dir, tile1), 32+31)
		}, nil},
		{"rewrite entry and its tile", "hash 0 of the tile differs", tile1, func(dir string) {
			// A consistent rewrite of one bundle and its leaf tile is caught
			// one level up.
			raw, _ := os.ReadFile(filepath.Join(dir, bundle0))
			raw[2] = 'E'
			os.WriteFile(filepath.Join(dir, bundle0), raw, 0o644)
			tile, _ := os.ReadFile(filepath.Join(dir, tile0))
			copy(tile, rfc6962.DefaultHasher.HashLeaf(bundleEntries(t, raw)[0]))
			os.WriteFile(filepath.Join(dir, tile0), tile, 0o644)
		}, nil},
		{"flip checkpoint root", "not a valid checkpoint", "checkpoint", func(dir string) {
			p := filepath.Join(dir, "checkpoint")
			b, _ := os.ReadFile(p)
			lines := strings.SplitN(string(b), "\n", 4)
			flip(t, p, len(lines[0])+1+len(lines[1])+1+5)
		}, nil},
		{"flip checkpoint signature", "not a valid checkpoint", "checkpoint", func(dir string) {
			flip(t, filepath.Join(dir, "checkpoint"), -5)
		}, nil},
		{"truncate bundle", "", bundle2, func(dir string) {
			p := filepath.Join(dir, bundle2)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-3], 0o644)
		}, nil},
		{"drop last entry of bundle", "holds 87 entries, want 88", bundle2, func(dir string) {
			p := filepath.Join(dir, bundle2)
			b, _ := os.ReadFile(p)
			es := bundleEntries(t, b)
			os.WriteFile(p, b[:len(b)-2-len(es[len(es)-1])], 0o644)
		}, nil},
		{"truncate tile", "the tile is", tile2, func(dir string) {
			p := filepath.Join(dir, tile2)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-32], 0o644)
		}, nil},
		{"delete bundle", "entry bundle is missing", layout.EntriesPath(1, 0), func(dir string) {
			os.Remove(filepath.Join(dir, layout.EntriesPath(1, 0)))
		}, nil},
		{"delete level-1 tile", "tile is missing", tile1, func(dir string) {
			os.Remove(filepath.Join(dir, tile1))
		}, nil},
		{"delete checkpoint", "couldn't read the checkpoint", "checkpoint", func(dir string) {
			os.Remove(filepath.Join(dir, "checkpoint"))
		}, nil},
		{"swap two bundles", "and its leaf hash in the tile disagree", bundle0, func(dir string) {
			a, b := filepath.Join(dir, bundle0), filepath.Join(dir, layout.EntriesPath(1, 0))
			os.Rename(a, a+".tmp")
			os.Rename(b, a)
			os.Rename(a+".tmp", b)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyLog(t, f.dir)
			tc.tamper(dir)
			_, err := verifyDir(t, dir, f.vkey, VerifyOptions{})
			ve := wantVerifyError(t, err, tc.reason, tc.resource)
			if tc.check != nil && ve != nil {
				tc.check(ve)
			}
			t.Log(err)
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	f := getFixture(t)

	_, otherV := testKey(t)
	_, err := verifyDir(t, f.dir, otherV, VerifyOptions{})
	wantVerifyError(t, err, "not a valid checkpoint signed by", "checkpoint")

	if _, err := verifyDir(t, f.dir, "garbage", VerifyOptions{}); err == nil {
		t.Error("Verify with a malformed key succeeded")
	}

	_, err = verifyDir(t, f.dir, f.vkey, VerifyOptions{Entry: func(i uint64, b []byte) error {
		if i == 300 {
			return errors.New("not a record")
		}
		return nil
	}})
	ve := wantVerifyError(t, err, "entry 300 was rejected", layout.EntriesPath(1, 0))
	if ve != nil && (ve.Index != 300 || !strings.Contains(ve.Error(), "not a record")) {
		t.Errorf("evidence %v", ve)
	}

	// A previous checkpoint larger than the log: rolled back.
	small := copyLog(t, f.dir)
	os.WriteFile(filepath.Join(small, "checkpoint"), f.early, 0o644)
	cur, _ := os.ReadFile(filepath.Join(f.dir, "checkpoint"))
	_, err = verifyDir(t, small, f.vkey, VerifyOptions{Previous: cur})
	wantVerifyError(t, err, "the log shrank from 600 entries to 300", "")

	// A different log under the same key: rewritten history.
	forked := t.TempDir()
	l := openLog(t, forked, f.skey)
	appendN(t, l, earlySize, 4, 1000)
	appendN(t, l, fixtureSize-earlySize, 4, earlySize)
	l.Close()
	_, err = verifyDir(t, forked, f.vkey, VerifyOptions{Previous: f.early})
	ve = wantVerifyError(t, err, "log was rewritten", "")
	if ve != nil && (ve.Previous == nil || !strings.Contains(ve.Error(), "previous checkpoint:")) {
		t.Errorf("evidence lacks the previous checkpoint: %v", ve)
	}
}

func TestVerifyEmpty(t *testing.T) {
	skey, vkey := testKey(t)
	dir := t.TempDir()
	l := openLog(t, dir, skey)
	l.Close()
	res, err := verifyDir(t, dir, vkey, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 0 || res.Root != [32]byte(rfc6962.DefaultHasher.EmptyRoot()) {
		t.Errorf("empty log: %+v", res)
	}
}

// TestVerifyLarge covers a full tile above level 0: 65536 entries fill
// tile/1/000, and the rest start tile/1/001 and tile/2/000.p/1.
func TestVerifyLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a log of 66,000 entries")
	}
	const n = 1<<16 + 464
	skey, vkey := testKey(t)
	dir := t.TempDir()
	l := openLog(t, dir, skey)
	// Many concurrent appenders, so the journal and Tessera fill whole
	// batches.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				if _, err := l.Append(t.Context(), entryData(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Close waits only for its own Appends' checkpoint; make one.
	if _, err := l.Append(t.Context(), []byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := verifyDir(t, dir, vkey, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verified %d entries in %v", res.Size, time.Since(start))
	if res.Size != n+1 {
		t.Errorf("size %d, want %d", res.Size, n+1)
	}
	full := layout.TilePath(1, 0, 0)
	flip(t, filepath.Join(dir, full), 32*255)
	_, err = verifyDir(t, dir, vkey, VerifyOptions{})
	ve := wantVerifyError(t, err, "hash 255 of the tile differs from the one recomputed from entries 65280 to 65535", full)
	if ve != nil && ve.Index != 255 {
		t.Errorf("index %d, want 255", ve.Index)
	}
	flip(t, filepath.Join(dir, full), 32*255)
	flip(t, filepath.Join(dir, layout.TilePath(2, 0, 1)), 0)
	_, err = verifyDir(t, dir, vkey, VerifyOptions{})
	wantVerifyError(t, err, "hash 0 of the tile differs from the one recomputed from entries 0 to 65535", layout.TilePath(2, 0, 1))
}
