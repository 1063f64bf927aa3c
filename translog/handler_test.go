package translog

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/tessera/api/layout"
)

func TestHandler(t *testing.T) {
	f := getFixture(t)
	dir := copyLog(t, f.dir)
	// Things that must stay unreachable even though they are in dir.
	os.WriteFile(filepath.Join(dir, "tile", "secret"), []byte("no"), 0o644)
	os.WriteFile(filepath.Join(dir, "checkpoint.tmp123"), []byte("no"), 0o644)
	os.Symlink("/etc", filepath.Join(dir, "tile", "0", "x999"))
	os.Symlink("/etc/passwd", filepath.Join(dir, "tile", "0", "999"))

	srv := httptest.NewServer(http.StripPrefix("/log", Handler(dir)))
	defer srv.Close()
	get := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	for _, tc := range []struct {
		path, ctype, cache string
	}{
		{"/log/checkpoint", "text/plain; charset=utf-8", "no-cache"},
		{"/log/" + layout.TilePath(0, 0, 0), "application/octet-stream", "public, max-age=31536000, immutable"},
		{"/log/" + layout.TilePath(0, 2, fixtureSize%256), "application/octet-stream", "public, max-age=3600"},
		{"/log/" + layout.TilePath(1, 0, fixtureSize/256), "application/octet-stream", "public, max-age=3600"},
		{"/log/" + layout.EntriesPath(1, 0), "application/octet-stream", "public, max-age=31536000, immutable"},
		{"/log/" + layout.EntriesPath(2, fixtureSize%256), "application/octet-stream", "public, max-age=3600"},
	} {
		resp, body := get("GET", tc.path)
		want, _ := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(tc.path, "/log/")))
		if resp.StatusCode != 200 || body != string(want) {
			t.Errorf("GET %s: %s, %d bytes; want 200 and the file's %d bytes", tc.path, resp.Status, len(body), len(want))
		}
		if got := resp.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if got := resp.Header.Get("Cache-Control"); got != tc.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tc.path, got, tc.cache)
		}
		if resp, body := get("HEAD", tc.path); resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len(want)) {
			t.Errorf("HEAD %s: %s, body %q, length %d", tc.path, resp.Status, body, resp.ContentLength)
		}
	}

	for _, p := range []string{
		"/log/", "/log/tile/", "/log/tile/0/", "/log/tile/entries/",
		"/log/.state/treeState", "/log/.state/", "/log/tile/../.state/treeState",
		"/log/.journal/journal.2", "/log/tile/../.journal/journal.2",
		"/log/tile/0/%2e%2e/%2e%2e/.state/treeState",
		"/log/tile/0/0", "/log/tile/0/0000", "/log/tile/0/x000/000", "/log/tile/0/000.p/0",
		"/log/tile/0/000.p/256", "/log/tile/0/000.p/05", "/log/tile/64/000",
		"/log/tile/secret", "/log/checkpoint.tmp123", "/log/checkpoint/",
		"/log/tile/0/x999/passwd", "/log/tile/0/999",
		"/log/" + layout.TilePath(0, 7, 0), "/log/tile/entries/x.p/5",
	} {
		if resp, body := get("GET", p); resp.StatusCode != 404 {
			t.Errorf("GET %s: %s %q, want 404", p, resp.Status, body[:min(len(body), 40)])
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		resp, _ := get(m, "/log/checkpoint")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %s, Allow %q", m, resp.Status, resp.Header.Get("Allow"))
		}
	}
	if cp, _ := os.ReadFile(filepath.Join(dir, "checkpoint")); len(cp) == 0 {
		t.Error("checkpoint vanished")
	}
}
