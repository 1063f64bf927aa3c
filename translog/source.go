package translog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// Source reads a log's public resources, per C2SP tlog-tiles. Its method
// set is that of Tessera's client fetchers.
//
// Contract: ReadTile and ReadEntryBundle with p > 0 ask for a partial
// resource of width p and fall back to the full one if the partial one is
// gone (the log grew and collected it); a missing resource is an error
// wrapping fs.ErrNotExist. The bytes are untrusted: Verify checks them all.
type Source interface {
	ReadCheckpoint(ctx context.Context) ([]byte, error)
	ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error)
	ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error)
}

// maxResource bounds any one read, so a hostile source cannot exhaust
// memory: the largest legitimate resource is a bundle of 256 maximal
// entries, each behind a 2-byte length.
const maxResource = layout.EntryBundleWidth * (2 + MaxEntrySize)

// OpenSource opens the log at loc: an http(s) URL (such as the console's
// http://host/log/) or a directory.
func OpenSource(loc string) (Source, error) {
	if strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://") {
		u, err := url.Parse(loc)
		if err != nil {
			return nil, fmt.Errorf("couldn't parse log URL: %w", err)
		}
		c := &http.Client{
			Timeout:   2 * time.Minute,
			Transport: limitTransport{http.DefaultTransport},
		}
		f, err := client.NewHTTPFetcher(u, c)
		if err != nil {
			return nil, fmt.Errorf("couldn't open log at %s: %w", loc, err)
		}
		return f, nil
	}
	fi, err := os.Stat(loc)
	if err != nil {
		return nil, fmt.Errorf("couldn't open log: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("couldn't open log: %s is not a directory", loc)
	}
	return dirSource{loc}, nil
}

// limitTransport caps response bodies at maxResource.
type limitTransport struct{ http.RoundTripper }

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitBody{r: io.LimitReader(resp.Body, maxResource+1), c: resp.Body}
	return resp, nil
}

type limitBody struct {
	r io.Reader
	c io.Closer
	n int64
}

func (b *limitBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.n += int64(n); b.n > maxResource {
		return 0, fmt.Errorf("resource larger than %d bytes", maxResource)
	}
	return n, err
}

func (b *limitBody) Close() error { return b.c.Close() }

// dirSource reads a log directory like Tessera's client.FileFetcher, but
// within the directory only (os.OpenInRoot) and with bounded reads.
type dirSource struct{ dir string }

func (d dirSource) read(name string) ([]byte, error) {
	f, err := os.OpenInRoot(d.dir, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxResource+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxResource {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxResource)
	}
	return b, nil
}

func (d dirSource) partialOrFull(p uint8, path func(uint8) string) ([]byte, error) {
	b, err := d.read(path(p))
	if p > 0 && errors.Is(err, fs.ErrNotExist) {
		if b, err = d.read(path(0)); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("neither %s nor %s exists: %w", path(p), path(0), fs.ErrNotExist)
		}
	}
	return b, err
}

func (d dirSource) ReadCheckpoint(context.Context) ([]byte, error) {
	return d.read(layout.CheckpointPath)
}

func (d dirSource) ReadTile(_ context.Context, level, index uint64, p uint8) ([]byte, error) {
	return d.partialOrFull(p, func(p uint8) string { return layout.TilePath(level, index, p) })
}

func (d dirSource) ReadEntryBundle(_ context.Context, index uint64, p uint8) ([]byte, error) {
	return d.partialOrFull(p, func(p uint8) string { return layout.EntriesPath(index, p) })
}
