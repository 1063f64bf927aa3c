package translog

import (
	"net/http"
	"os"
	"strings"

	"github.com/transparency-dev/tessera/api/layout"
)

// Handler serves the log in dir read-only, per C2SP tlog-tiles: GET and
// HEAD of /checkpoint, /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>].
// Mount it with http.StripPrefix, e.g. under /log/.
//
// Only those paths, in their canonical spelling, reach the file system,
// through os.OpenInRoot, so .state/, temporary files, directory listings
// and anything outside dir are unreachable. Full tiles are immutable and
// cached as such; the checkpoint must be revalidated.
func Handler(dir string) http.Handler {
	return handler{dir: dir}
}

type handler struct{ dir string }

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the log is read-only", http.StatusMethodNotAllowed)
		return
	}
	name, cache, ok := resource(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	f, err := os.OpenInRoot(h.dir, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	if name == layout.CheckpointPath {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		hd.Set("Content-Type", "application/octet-stream")
	}
	hd.Set("Cache-Control", cache)
	hd.Set("X-Content-Type-Options", "nosniff")
	// The log is public; let browser-based verifiers read it.
	hd.Set("Access-Control-Allow-Origin", "*")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

const (
	cacheCheckpoint = "no-cache"
	cacheFull       = "public, max-age=31536000, immutable"
	// A partial tile's bytes never change either, but it is deleted once
	// the full tile exists, so keep it briefly.
	cachePartial = "public, max-age=3600"
)

// resource maps a request path to a file name in the log directory and its
// cache policy. It accepts a path only if Tessera's layout spells it that
// way, which rules out "..", "//", ".state" and the like.
func resource(p string) (name, cache string, ok bool) {
	if p == "/"+layout.CheckpointPath {
		return layout.CheckpointPath, cacheCheckpoint, true
	}
	rest, found := strings.CutPrefix(p, "/tile/")
	if !found {
		return "", "", false
	}
	var partial uint8
	if n, isEntries := strings.CutPrefix(rest, "entries/"); isEntries {
		i, w, err := layout.ParseTileIndexPartial(n)
		if err != nil {
			return "", "", false
		}
		name, partial = layout.EntriesPath(i, w), w
	} else {
		level, n, _ := strings.Cut(rest, "/")
		l, i, w, err := layout.ParseTileLevelIndexPartial(level, n)
		if err != nil {
			return "", "", false
		}
		name, partial = layout.TilePath(l, i, w), w
	}
	if "/"+name != p {
		return "", "", false
	}
	if partial > 0 {
		return name, cachePartial, true
	}
	return name, cacheFull, true
}
