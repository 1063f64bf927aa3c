package console

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

// The log browser: the public fields of recent entries, and one entry with
// the evidence that it is in the log. It reads the log directory as any
// verifier reads the log, checkpoint signature first.

const pageEntries = 50

type browseData struct {
	page
	Size       uint64
	Entries    []entryRow
	Newer      uint64 // ?before= of the newer page; 0 if none
	Older      uint64 // ?before= of the older page; 0 if none
	First      uint64 // index of the last row
	Before     uint64
	LogURL     string
	Checkpoint string
}

type entryRow struct {
	Index uint64
	E     *record.Entry
	Err   string
}

// signedSize reads and verifies the checkpoint, and returns the tree size.
func (c *console) signedSize(ctx context.Context, src translog.Source) (uint64, []byte, error) {
	v, err := note.NewVerifier(c.cfg.VerifierKey)
	if err != nil {
		return 0, nil, fmt.Errorf("couldn't parse verifier key: %w", err)
	}
	cp, raw, _, err := client.FetchCheckpoint(ctx, src.ReadCheckpoint, v, v.Name())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, errNoCheckpoint
	}
	if err != nil {
		return 0, nil, fmt.Errorf("couldn't verify the checkpoint: %w", err)
	}
	return cp.Size, raw, nil
}

func (c *console) browsePage(w http.ResponseWriter, r *http.Request) {
	src, err := translog.OpenSource(c.cfg.LogDir)
	if err != nil {
		c.logFail(w, r, err)
		return
	}
	size, raw, err := c.signedSize(r.Context(), src)
	if err != nil {
		c.logFail(w, r, err)
		return
	}
	before := size
	if s := r.URL.Query().Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			c.fail(w, r, http.StatusBadRequest, "?before= is not an entry index.", "")
			return
		}
		before = min(n, size)
	}
	d := &browseData{page: page{Title: "Log", Origin: c.cfg.Origin, Nav: "log"}, Size: size, Before: before,
		LogURL: scheme(r) + "://" + r.Host + "/log/", Checkpoint: string(raw)}
	from := uint64(0)
	if before > pageEntries {
		from = before - pageEntries
	}
	if from > 0 {
		d.Older = from
	}
	if before < size {
		d.Newer = min(before+pageEntries, size)
	}
	d.First = from
	// Newest first, a bundle (256 entries) at a time.
	for b := (before - 1) / layout.EntryBundleWidth; before > from; b-- {
		eb, err := client.GetEntryBundle(r.Context(), src.ReadEntryBundle, b, size)
		if err != nil {
			c.logFail(w, r, fmt.Errorf("couldn't read entries: %w", err))
			return
		}
		for k := len(eb.Entries) - 1; k >= 0; k-- {
			i := b*layout.EntryBundleWidth + uint64(k)
			if i >= before || i < from {
				continue
			}
			row := entryRow{Index: i}
			if row.E, err = record.Parse(eb.Entries[k]); err != nil {
				row.Err = err.Error()
			}
			d.Entries = append(d.Entries, row)
		}
		if b*layout.EntryBundleWidth <= from {
			break
		}
	}
	noCache(w)
	c.render(w, r, browseTmpl, d)
}

type entryData struct {
	page
	Index       uint64
	E           *record.Entry
	ParseErr    string
	Raw         string
	LeafHash    string
	Proof       []string
	Size        uint64
	Checkpoint  string
	Verified    bool
	VerifyErr   string
	Detail      string
	LogURL      string
	VerifierKey string
}

// prove builds the entry's evidence bundle from the log directory.
func (c *console) prove(w http.ResponseWriter, r *http.Request) (*translog.Bundle, bool) {
	i, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "There is no such entry.", "")
		return nil, false
	}
	src, err := translog.OpenSource(c.cfg.LogDir)
	if err != nil {
		c.logFail(w, r, err)
		return nil, false
	}
	size, _, err := c.signedSize(r.Context(), src)
	if err != nil {
		c.logFail(w, r, err)
		return nil, false
	}
	if i >= size {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("There is no entry %d: the log's checkpoint has %d entries.", i, size), "")
		return nil, false
	}
	b, err := translog.Prove(r.Context(), src, i)
	if err != nil {
		c.logFail(w, r, err)
		return nil, false
	}
	return b, true
}

func (c *console) entryPage(w http.ResponseWriter, r *http.Request) {
	b, ok := c.prove(w, r)
	if !ok {
		return
	}
	d := &entryData{page: page{Title: fmt.Sprintf("Entry %d", b.Index), Origin: c.cfg.Origin, Nav: "log"},
		Index: b.Index, Raw: string(b.Entry), Checkpoint: string(b.Checkpoint),
		LogURL: scheme(r) + "://" + r.Host + "/log/", VerifierKey: c.cfg.VerifierKey}
	leaf := rfc6962.DefaultHasher.HashLeaf(b.Entry)
	d.LeafHash = hex.EncodeToString(leaf)
	for _, h := range b.Proof {
		d.Proof = append(d.Proof, base64.StdEncoding.EncodeToString(h))
	}
	res, err := b.Verify(c.cfg.VerifierKey)
	if err != nil {
		d.VerifyErr = err.Error()
	} else {
		d.Verified, d.Size = true, res.Size
	}
	e, err := record.Parse(b.Entry)
	if err != nil {
		d.ParseErr = err.Error()
	} else {
		d.E = e
		if e.Detail != [32]byte{} {
			d.Detail = hex.EncodeToString(e.Detail[:])
		}
	}
	noCache(w)
	c.render(w, r, entryTmpl, d)
}

// entryBundle serves the entry's evidence bundle, for `custodes verify
// --bundle`.
func (c *console) entryBundle(w http.ResponseWriter, r *http.Request) {
	b, ok := c.prove(w, r)
	if !ok {
		return
	}
	out, err := b.Marshal()
	if err != nil {
		c.logFail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="entry-%d.tlog-proof"`, b.Index))
	h.Set("Access-Control-Allow-Origin", "*")
	noCache(w)
	w.Write(out)
}

func (c *console) logFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNoCheckpoint) {
		c.fail(w, r, http.StatusServiceUnavailable, "The log has not published a checkpoint yet.", "")
		return
	}
	c.cfg.Logger.Error("couldn't read the log", "path", r.URL.Path, "err", err)
	c.fail(w, r, http.StatusInternalServerError, "The log could not be read.", err.Error())
}

func noCache(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-cache") }
