package translog

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
)

// Prove builds the evidence bundle for the entry at index, against the
// log's current checkpoint. It checks the inclusion proof against the
// checkpoint's root before returning, but not the checkpoint's signature:
// that is [Bundle.Verify]'s job, with the verifier key.
func Prove(ctx context.Context, src Source, index uint64) (*Bundle, error) {
	cp, err := src.ReadCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the checkpoint: %w", err)
	}
	c, err := checkpointBody(cp)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the checkpoint: %w", err)
	}
	if index >= c.Size {
		return nil, fmt.Errorf("couldn't prove entry %d: the log has %d entries", index, c.Size)
	}
	pb, err := client.NewProofBuilder(ctx, c.Size, src.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("couldn't prove entry %d: %w", index, err)
	}
	incl, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("couldn't build the inclusion proof for entry %d: %w", index, err)
	}
	eb, err := client.GetEntryBundle(ctx, src.ReadEntryBundle, index/layout.EntryBundleWidth, c.Size)
	if err != nil {
		return nil, fmt.Errorf("couldn't read entry %d: %w", index, err)
	}
	k := index % layout.EntryBundleWidth
	if k >= uint64(len(eb.Entries)) {
		return nil, fmt.Errorf("couldn't read entry %d: its bundle holds %d entries", index, len(eb.Entries))
	}
	b := &Bundle{Index: index, Entry: eb.Entries[k], Proof: incl, Checkpoint: cp}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, c.Size, rfc6962.DefaultHasher.HashLeaf(b.Entry), incl, c.Hash); err != nil {
		return nil, fmt.Errorf("couldn't prove entry %d: the log's tiles and entries disagree with its checkpoint: %w", index, err)
	}
	return b, nil
}

// Verify checks the bundle offline against the log's verifier key: the
// checkpoint's signature and origin, and the inclusion proof of the entry
// against the checkpoint's root. On success the Result describes the
// checkpoint (Entries is 1); any failure to verify is a *VerifyError.
// Parsing the entry itself is the caller's job (record.Parse).
func (b *Bundle) Verify(vkey string) (*Result, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse verifier key: %w", err)
	}
	size, root, err := openCheckpoint(context.Background(), b.Checkpoint, v)
	if err != nil {
		return nil, &VerifyError{Checkpoint: b.Checkpoint, Index: int64(b.Index),
			Reason: "the bundle's checkpoint is not a valid checkpoint signed by " + v.Name(), Err: err}
	}
	if b.Index >= size {
		return nil, &VerifyError{Checkpoint: b.Checkpoint, Index: int64(b.Index),
			Reason: fmt.Sprintf("entry %d is beyond the checkpoint's %d entries", b.Index, size)}
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(b.Entry)
	got, err := proof.RootFromInclusionProof(rfc6962.DefaultHasher, b.Index, size, leaf, b.Proof)
	if err != nil {
		return nil, &VerifyError{Checkpoint: b.Checkpoint, Index: int64(b.Index),
			Reason: fmt.Sprintf("the inclusion proof does not fit entry %d of a tree of %d entries", b.Index, size), Err: err}
	}
	if !bytes.Equal(got, root[:]) {
		return nil, &VerifyError{Checkpoint: b.Checkpoint, Index: int64(b.Index), Want: got, Got: root[:],
			Reason: fmt.Sprintf("the root computed from entry %d and its inclusion proof differs from the signed root", b.Index)}
	}
	return &Result{Size: size, Root: root, Checkpoint: b.Checkpoint, Entries: 1}, nil
}

// ConsistencyProof builds, from src's tiles, the RFC 6962 §2.1.2
// consistency proof from the tree of size1 to the tree of size2, such as a
// C2SP tlog-witness wants with a new checkpoint. The caller checks it.
func ConsistencyProof(ctx context.Context, src Source, size1, size2 uint64) ([][]byte, error) {
	pb, err := client.NewProofBuilder(ctx, size2, src.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("couldn't build consistency proof: %w", err)
	}
	p, err := pb.ConsistencyProof(ctx, size1, size2)
	if err != nil {
		return nil, fmt.Errorf("couldn't build consistency proof from %d to %d: %w", size1, size2, err)
	}
	return p, nil
}

// InconsistencyError is evidence that two checkpoints signed by one log
// cannot both belong to one append-only history. It is self-contained:
// anyone holding the log's verifier key can check the signatures and,
// with any RFC 6962 implementation, the proof.
type InconsistencyError struct {
	Older, Newer []byte   // the signed checkpoints, verbatim; Older was verified first
	Proof        [][]byte // the consistency proof from Older's size to Newer's, built from the log's tiles; nil if none applies
	// OlderRootFromProof is the root of the first Older-size entries that
	// Proof gives, when Proof also reproduces Newer's root: then the log's
	// own tiles commit to a history that differs from Older.
	OlderRootFromProof []byte
	Reason             string
}

func (e *InconsistencyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the log is inconsistent with an earlier checkpoint: %s", e.Reason)
	for _, cp := range []struct {
		name string
		b    []byte
	}{{"earlier checkpoint", e.Older}, {"current checkpoint", e.Newer}} {
		fmt.Fprintf(&b, "\n  %s:\n    %s", cp.name, strings.ReplaceAll(strings.TrimRight(string(cp.b), "\n"), "\n", "\n    "))
	}
	if e.Proof != nil {
		fmt.Fprintf(&b, "\n  consistency proof (RFC 6962 §2.1.2, base64, one hash a line, from the log's tiles):")
		for _, h := range e.Proof {
			fmt.Fprintf(&b, "\n    %s", base64.StdEncoding.EncodeToString(h))
		}
		if len(e.Proof) == 0 {
			fmt.Fprintf(&b, "\n    (empty)")
		}
	}
	if e.OlderRootFromProof != nil {
		fmt.Fprintf(&b, "\n  earlier root according to the proof: %s", base64.StdEncoding.EncodeToString(e.OlderRootFromProof))
	}
	return b.String()
}

// CheckConsistency proves, with a consistency proof built from src's
// tiles, that the tree of the checkpoint newer extends that of older, both
// signed by vkey. It returns nil if so, an *InconsistencyError with the
// evidence if not, and another error if it cannot tell (a checkpoint does
// not verify, a tile is missing).
//
// Unlike [Verify] with VerifyOptions.Previous, it reads only the O(log n)
// tiles the proof needs, and does not re-hash the entries.
func CheckConsistency(ctx context.Context, src Source, vkey string, older, newer []byte) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("couldn't parse verifier key: %w", err)
	}
	size1, root1, err := openCheckpoint(ctx, older, v)
	if err != nil {
		return fmt.Errorf("the earlier checkpoint is not a valid checkpoint signed by %s: %w", v.Name(), err)
	}
	size2, root2, err := openCheckpoint(ctx, newer, v)
	if err != nil {
		return fmt.Errorf("the current checkpoint is not a valid checkpoint signed by %s: %w", v.Name(), err)
	}
	fail := &InconsistencyError{Older: older, Newer: newer}
	switch {
	case size2 < size1:
		fail.Reason = fmt.Sprintf("the log shrank from %d entries to %d: an append-only log never does", size1, size2)
		return fail
	case size1 == size2:
		if root1 == root2 {
			return nil
		}
		fail.Reason = fmt.Sprintf("both checkpoints are signed for a tree of %d entries, with different roots: the log forked", size1)
		return fail
	}
	p, err := ConsistencyProof(ctx, src, size1, size2)
	if err != nil {
		return err
	}
	h := rfc6962.DefaultHasher
	err = proof.VerifyConsistency(h, size1, size2, p, root1[:], root2[:])
	if err == nil {
		return nil
	}
	fail.Proof = p
	fail.Reason = fmt.Sprintf("the consistency proof from %d to %d entries does not verify: %v", size1, size2, err)
	// VerifyConsistency checks the older root first. If it failed there,
	// find out whether the proof at least reproduces the newer root: then
	// it shows which other history the log now commits to.
	var mismatch proof.RootMismatchError
	if errors.As(err, &mismatch) && bytes.Equal(mismatch.ExpectedRoot, root1[:]) {
		if proof.VerifyConsistency(h, size1, size2, p, mismatch.CalculatedRoot, root2[:]) == nil {
			fail.OlderRootFromProof = mismatch.CalculatedRoot
			fail.Reason = fmt.Sprintf("the log's tiles reproduce the current root, but give another root for its first %d entries than the earlier checkpoint signed: the log rewrote its history", size1)
		}
	}
	return fail
}
