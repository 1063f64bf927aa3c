package translog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// forkedLog is a log under the fixture's key with other entries: its
// checkpoint when it had earlySize entries, and its directory at
// fixtureSize.
func forkedLog(t *testing.T, f fixture) (dir string, early []byte) {
	t.Helper()
	dir = t.TempDir()
	l := openLog(t, dir, f.skey)
	appendN(t, l, earlySize, 16, 5000)
	l.Close()
	early, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, f.skey)
	appendN(t, l, fixtureSize-earlySize, 16, 6000)
	l.Close()
	return dir, early
}

func TestCheckConsistency(t *testing.T) {
	f := getFixture(t)
	src, _ := OpenSource(f.dir)
	cur, err := src.ReadCheckpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckConsistency(t.Context(), src, f.vkey, f.early, cur); err != nil {
		t.Errorf("the fixture's growth: %v", err)
	}
	if err := CheckConsistency(t.Context(), src, f.vkey, cur, cur); err != nil {
		t.Errorf("a checkpoint with itself: %v", err)
	}

	incons := func(name string, err error, reason string) *InconsistencyError {
		t.Helper()
		var ie *InconsistencyError
		if !errors.As(err, &ie) || !strings.Contains(ie.Reason, reason) {
			t.Errorf("%s: got %v, want an InconsistencyError about %q", name, err, reason)
			return nil
		}
		if s := ie.Error(); !strings.Contains(s, "earlier checkpoint:\n    "+testOrigin) || !strings.Contains(s, "current checkpoint:\n    "+testOrigin) {
			t.Errorf("%s: evidence lacks a checkpoint:\n%s", name, s)
		}
		return ie
	}
	incons("rollback", CheckConsistency(t.Context(), src, f.vkey, cur, f.early), "shrank from 600 entries to 300")

	forked, forkEarly := forkedLog(t, f)
	fsrc, _ := OpenSource(forked)
	forkCur, _ := fsrc.ReadCheckpoint(t.Context())
	incons("same size", CheckConsistency(t.Context(), fsrc, f.vkey, f.early, forkEarly), "different roots: the log forked")

	ie := incons("grown fork", CheckConsistency(t.Context(), fsrc, f.vkey, f.early, forkCur), "rewrote its history")
	if ie != nil {
		// The evidence checks out with nothing but the merkle library: the
		// proof leads to the forked root, and from it to the fork's own
		// earlier root, not to the one the fixture signed.
		forkRoot := rootOf(t, forkCur)
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, earlySize, fixtureSize, ie.Proof, ie.OlderRootFromProof, forkRoot); err != nil {
			t.Errorf("evidence proof doesn't verify against the forked root: %v", err)
		}
		if got, want := ie.OlderRootFromProof, rootOf(t, forkEarly); string(got) != string(want) {
			t.Errorf("evidence's earlier root %x, want the fork's %x", got, want)
		}
		if !strings.Contains(ie.Error(), "consistency proof (RFC 6962") {
			t.Errorf("evidence lacks the proof:\n%v", ie)
		}
	}

	// A checkpoint under another key is not evidence of anything.
	_, otherV := testKey(t)
	if err := CheckConsistency(t.Context(), src, otherV, f.early, cur); err == nil || errors.As(err, new(*InconsistencyError)) {
		t.Errorf("other key: %v", err)
	}
}

func rootOf(t *testing.T, cp []byte) []byte {
	t.Helper()
	c, err := checkpointBody(cp)
	if err != nil {
		t.Fatal(err)
	}
	return c.Hash
}

// TestConsistencyProof checks proofs between many sizes of one log against
// roots recomputed independently from its entries.
func TestConsistencyProof(t *testing.T) {
	f := getFixture(t)
	src, _ := OpenSource(f.dir)
	roots := map[uint64][]byte{}
	sizes := []uint64{0, 1, 2, 3, 255, 256, 257, 300, 512, 599}
	leaves := leafHashes(t, f.dir)
	for _, s := range sizes {
		roots[s] = rootFromLeaves(leaves[:s])
	}
	roots[fixtureSize] = rootOf(t, mustRead(t, filepath.Join(f.dir, "checkpoint")))
	for _, s1 := range append(sizes, fixtureSize) {
		p, err := ConsistencyProof(t.Context(), src, s1, fixtureSize)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, s1, fixtureSize, p, roots[s1], roots[fixtureSize]); err != nil {
			t.Errorf("%d to %d: %v", s1, fixtureSize, err)
		}
	}
	if _, err := ConsistencyProof(t.Context(), src, 10, fixtureSize+1); err == nil {
		t.Error("built a proof to a size beyond the log")
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

func leafHashes(t *testing.T, dir string) [][]byte {
	t.Helper()
	var leaves [][]byte
	for _, name := range []string{"000", "001", "002.p/88"} {
		for _, e := range bundleEntries(t, mustRead(t, filepath.Join(dir, "tile", "entries", name))) {
			leaves = append(leaves, rfc6962.DefaultHasher.HashLeaf(e))
		}
	}
	if len(leaves) != fixtureSize {
		t.Fatalf("%d leaves", len(leaves))
	}
	return leaves
}

// rootFromLeaves is RFC 6962's MTH, straight from its definition.
func rootFromLeaves(l [][]byte) []byte {
	switch len(l) {
	case 0:
		return rfc6962.DefaultHasher.EmptyRoot()
	case 1:
		return l[0]
	}
	k := 1
	for k*2 < len(l) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(rootFromLeaves(l[:k]), rootFromLeaves(l[k:]))
}
