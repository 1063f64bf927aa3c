package translog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
)

// Result describes a verified log.
type Result struct {
	Size       uint64   // tree size in the checkpoint
	Root       [32]byte // root hash in the checkpoint, recomputed from the entries
	Checkpoint []byte   // the signed checkpoint, as served; keep it for VerifyOptions.Previous
	Entries    uint64   // entries read and re-hashed (Size, on success)
}

// VerifyOptions are the optional parts of [Verify].
type VerifyOptions struct {
	// Entry is called for every entry, in index order (the caller parses it
	// with record.Parse). An error fails verification. Entry sees entries
	// before the root is checked: trust them only once Verify returns nil.
	Entry func(index uint64, data []byte) error
	// Progress, if set, is called after every entry bundle.
	Progress func(done, total uint64)
	// Previous, if set, is a checkpoint of this log verified earlier
	// (Result.Checkpoint): Verify then also proves the log still begins
	// with the tree it committed to, i.e. nothing was rolled back or
	// rewritten since.
	Previous []byte
}

// VerifyError is a failed verification, with the evidence: what was
// checked, against which signed checkpoint, and the hashes that differ.
type VerifyError struct {
	Checkpoint []byte // the signed checkpoint verified against, as served; nil if unreadable
	Previous   []byte // VerifyOptions.Previous, when the failure concerns it
	Resource   string // path of the resource at fault, relative to the log root, if any
	Index      int64  // the entry (or node, for a tile) at fault, or -1
	Want, Got  []byte // for a hash mismatch: the hash recomputed from the entries, and the one found
	Reason     string // what is wrong, in words
	Err        error  // the underlying error, if any
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "log verification failed: %s", e.Reason)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Resource != "" {
		fmt.Fprintf(&b, "\n  resource:   %s", e.Resource)
	}
	if e.Index >= 0 {
		fmt.Fprintf(&b, "\n  index:      %d", e.Index)
	}
	if e.Want != nil || e.Got != nil {
		fmt.Fprintf(&b, "\n  recomputed: %x\n  found:      %x", e.Want, e.Got)
	}
	for _, cp := range []struct {
		name string
		b    []byte
	}{{"checkpoint", e.Checkpoint}, {"previous checkpoint", e.Previous}} {
		if cp.b != nil {
			fmt.Fprintf(&b, "\n  %s:\n    %s", cp.name, strings.ReplaceAll(strings.TrimRight(string(cp.b), "\n"), "\n", "\n    "))
		}
	}
	return b.String()
}

func (e *VerifyError) Unwrap() error { return e.Err }

const prefetchWorkers = 4

// Verify checks the log in src against vkey: the checkpoint's signature;
// every entry bundle, re-hashed; every tile, against the hashes recomputed
// from the entries below it; and the root, against the signed one. It
// calls opts.Entry for every entry. It streams, so memory does not grow
// with the log. Any failure to verify is a *VerifyError.
func Verify(ctx context.Context, src Source, vkey string, opts VerifyOptions) (*Result, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse verifier key: %w", err)
	}
	raw, err := src.ReadCheckpoint(ctx)
	if err != nil {
		return nil, &VerifyError{Resource: layout.CheckpointPath, Index: -1, Reason: "couldn't read the checkpoint", Err: err}
	}
	size, root, err := openCheckpoint(ctx, raw, v)
	if err != nil {
		return nil, &VerifyError{Checkpoint: raw, Resource: layout.CheckpointPath, Index: -1,
			Reason: "the checkpoint is not a valid checkpoint signed by " + v.Name(), Err: err}
	}
	w := &walker{ctx: ctx, src: src, checkpoint: raw, size: size, opts: opts, prevSize: 0}
	if opts.Previous != nil {
		w.prevSize, w.prevRoot, err = openCheckpoint(ctx, opts.Previous, v)
		if err != nil {
			return nil, &VerifyError{Checkpoint: raw, Previous: opts.Previous, Index: -1,
				Reason: "the previous checkpoint is not a valid checkpoint signed by " + v.Name(), Err: err}
		}
		if w.prevSize > size {
			return nil, &VerifyError{Checkpoint: raw, Previous: opts.Previous, Index: -1,
				Reason: fmt.Sprintf("the log shrank from %d entries to %d", w.prevSize, size)}
		}
	}
	got, err := w.walk()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("couldn't verify log: %w", ctx.Err())
		}
		return nil, err
	}
	if got != root {
		return nil, &VerifyError{Checkpoint: raw, Index: -1, Want: got[:], Got: root[:],
			Reason: "the root recomputed from the entries differs from the signed root"}
	}
	return &Result{Size: size, Root: root, Checkpoint: raw, Entries: w.entries}, nil
}

func openCheckpoint(ctx context.Context, raw []byte, v note.Verifier) (uint64, [32]byte, error) {
	cp, _, _, err := client.FetchCheckpoint(ctx, func(context.Context) ([]byte, error) { return raw, nil }, v, v.Name())
	if err != nil {
		return 0, [32]byte{}, err
	}
	if len(cp.Hash) != 32 {
		return 0, [32]byte{}, fmt.Errorf("root hash is %d bytes, want 32", len(cp.Hash))
	}
	return cp.Size, [32]byte(cp.Hash), nil
}

// walker recomputes the tree bottom-up in one pass over the entries,
// keeping only a compact range and, per tile level, the hashes of the tile
// being filled.
type walker struct {
	ctx        context.Context
	src        Source
	checkpoint []byte
	size       uint64
	opts       VerifyOptions
	entries    uint64

	prevSize uint64
	prevRoot [32]byte

	// pending[L] holds the finished nodes of tree level 8L (tile level L)
	// not yet checked against their tile; full lists the levels whose
	// tile just filled up.
	pending [8][][]byte
	full    []int
}

func (w *walker) fail(resource string, index int64, reason string, err error) *VerifyError {
	return &VerifyError{Checkpoint: w.checkpoint, Resource: resource, Index: index, Reason: reason, Err: err}
}

func (w *walker) walk() ([32]byte, error) {
	rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	visit := func(id compact.NodeID, h []byte) {
		if id.Level == 0 || id.Level%layout.TileHeight != 0 {
			return
		}
		l := id.Level / layout.TileHeight
		w.pending[l] = append(w.pending[l], bytes.Clone(h))
		if len(w.pending[l]) == layout.TileWidth {
			w.full = append(w.full, int(l))
		}
	}
	if err := w.checkPrevious(rng); err != nil {
		return [32]byte{}, err
	}

	order, stop := prefetch(w.ctx, w.src, w.size)
	defer stop()
	for c := range order {
		f := <-c
		ri := f.ri
		bundlePath := layout.EntriesPath(ri.Index, ri.Partial)
		tilePath := layout.TilePath(0, ri.Index, ri.Partial)
		first := ri.Index * layout.EntryBundleWidth
		entries, err := w.bundle(bundlePath, ri, f.bundle, f.bundleErr)
		if err != nil {
			return [32]byte{}, err
		}
		tile, err := w.tile(tilePath, ri.Partial, int(ri.N), f.tile, f.tileErr)
		if err != nil {
			return [32]byte{}, err
		}
		for k, e := range entries[:ri.N] {
			idx := first + uint64(k)
			lh := rfc6962.DefaultHasher.HashLeaf(e)
			if found := tile[k*32 : (k+1)*32]; !bytes.Equal(lh, found) {
				return [32]byte{}, &VerifyError{Checkpoint: w.checkpoint, Resource: bundlePath + " and " + tilePath,
					Index: int64(idx), Want: lh, Got: found,
					Reason: fmt.Sprintf("entry %d and its leaf hash in the tile disagree", idx)}
			}
			if err := rng.Append(lh, visit); err != nil {
				return [32]byte{}, w.fail("", int64(idx), "couldn't extend the tree", err)
			}
			w.entries++
			if err := w.checkPrevious(rng); err != nil {
				return [32]byte{}, err
			}
			if w.opts.Entry != nil {
				if err := w.opts.Entry(idx, e); err != nil {
					return [32]byte{}, w.fail(bundlePath, int64(idx), fmt.Sprintf("entry %d was rejected", idx), err)
				}
			}
		}
		for _, l := range w.full {
			if err := w.checkTile(l, 0); err != nil {
				return [32]byte{}, err
			}
		}
		w.full = w.full[:0]
		if w.opts.Progress != nil {
			w.opts.Progress(w.entries, w.size)
		}
	}
	if w.ctx.Err() != nil {
		return [32]byte{}, w.ctx.Err()
	}
	if w.entries != w.size {
		return [32]byte{}, w.fail("", int64(w.entries), fmt.Sprintf("read %d entries, want %d", w.entries, w.size), nil)
	}
	// The right edge: partial tiles above level 0.
	for l := 1; l < len(w.pending) && w.size>>(l*layout.TileHeight) > 0; l++ {
		if p := layout.PartialTileSize(uint64(l), w.size>>(l*layout.TileHeight)/layout.TileWidth, w.size); p > 0 {
			if err := w.checkTile(l, p); err != nil {
				return [32]byte{}, err
			}
		}
	}
	if w.size == 0 {
		return [32]byte(rfc6962.DefaultHasher.EmptyRoot()), nil
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return [32]byte{}, w.fail("", -1, "couldn't compute the root", err)
	}
	return [32]byte(root), nil
}

// checkPrevious compares the root at the previous checkpoint's size, once
// the walk reaches it.
func (w *walker) checkPrevious(rng *compact.Range) error {
	if w.opts.Previous == nil || rng.End() != w.prevSize {
		return nil
	}
	root := rfc6962.DefaultHasher.EmptyRoot()
	if w.prevSize > 0 {
		var err error
		if root, err = rng.GetRootHash(nil); err != nil {
			return w.fail("", -1, "couldn't compute the root", err)
		}
	}
	if !bytes.Equal(root, w.prevRoot[:]) {
		return &VerifyError{Checkpoint: w.checkpoint, Previous: w.opts.Previous, Index: -1, Want: root, Got: w.prevRoot[:],
			Reason: fmt.Sprintf("the log's first %d entries are not the tree the previous checkpoint signed: the log was rewritten", w.prevSize)}
	}
	return nil
}

func missing(what string, err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return what + " is missing"
	}
	return "couldn't read " + what
}

// bundle parses an entry bundle, which must hold exactly the entries the
// checkpoint implies (or a full bundle, if the partial one was replaced).
func (w *walker) bundle(path string, ri layout.RangeInfo, raw []byte, err error) ([][]byte, error) {
	first := int64(ri.Index * layout.EntryBundleWidth)
	if err != nil {
		return nil, w.fail(path, first, missing("entry bundle", err), err)
	}
	var b api.EntryBundle
	if err := b.UnmarshalText(raw); err != nil {
		return nil, w.fail(path, first, "the entry bundle is malformed", err)
	}
	if n := len(b.Entries); n != int(ri.N) && n != layout.EntryBundleWidth {
		return nil, w.fail(path, first, fmt.Sprintf("the entry bundle holds %d entries, want %d", n, ri.N), nil)
	}
	return b.Entries, nil
}

// tile checks a tile's length, for n hashes (or a full tile, if the
// partial one was replaced) and returns it.
func (w *walker) tile(path string, p uint8, n int, raw []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, w.fail(path, -1, missing("tile", err), err)
	}
	if len(raw) != n*32 && (p == 0 || len(raw) != layout.TileWidth*32) {
		return nil, w.fail(path, -1, fmt.Sprintf("the tile is %d bytes, want %d", len(raw), n*32), nil)
	}
	return raw, nil
}

// checkTile fetches the next tile at tile level l (partial width p, or 0
// for full) and compares it with the hashes recomputed for it.
func (w *walker) checkTile(l int, p uint8) error {
	want := w.pending[l]
	index := (w.size >> (l * layout.TileHeight)) / layout.TileWidth // the partial tile, or
	if p == 0 {
		// the full one just filled: its last node is the newest.
		index = (w.entries>>(l*layout.TileHeight) - 1) / layout.TileWidth
	}
	path := layout.TilePath(uint64(l), index, p)
	n := int(p)
	if p == 0 {
		n = layout.TileWidth
	}
	if len(want) != n {
		return w.fail(path, -1, fmt.Sprintf("recomputed %d hashes for this tile, want %d", len(want), n), nil)
	}
	raw, err := w.src.ReadTile(w.ctx, uint64(l), index, p)
	tile, err := w.tile(path, p, len(want), raw, err)
	if err != nil {
		return err
	}
	for k, h := range want {
		if found := tile[k*32 : (k+1)*32]; !bytes.Equal(h, found) {
			node := index*layout.TileWidth + uint64(k)
			lo, hi := node<<(l*layout.TileHeight), (node+1)<<(l*layout.TileHeight)-1
			return &VerifyError{Checkpoint: w.checkpoint, Resource: path, Index: int64(node), Want: h, Got: found,
				Reason: fmt.Sprintf("hash %d of the tile differs from the one recomputed from entries %d to %d", k, lo, hi)}
		}
	}
	w.pending[l] = w.pending[l][:0]
	return nil
}

// fetched is one entry bundle and the level-0 tile of its leaf hashes.
type fetched struct {
	ri                 layout.RangeInfo
	bundle, tile       []byte
	bundleErr, tileErr error
}

// prefetch reads bundles and their tiles ahead of the walk, in parallel
// but delivered in order, prefetchWorkers deep, so that a remote log's
// latency overlaps with hashing. stop ends it without leaking goroutines.
func prefetch(ctx context.Context, src Source, size uint64) (order <-chan chan fetched, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan chan fetched, prefetchWorkers)
	go func() {
		defer close(ch)
		for ri := range layout.Range(0, size, size) {
			c := make(chan fetched, 1)
			select {
			case ch <- c:
			case <-ctx.Done():
				return
			}
			go func() {
				f := fetched{ri: ri}
				f.bundle, f.bundleErr = src.ReadEntryBundle(ctx, ri.Index, ri.Partial)
				f.tile, f.tileErr = src.ReadTile(ctx, 0, ri.Index, ri.Partial)
				c <- f
			}()
		}
	}()
	return ch, cancel
}
