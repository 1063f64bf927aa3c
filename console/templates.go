package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/report"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/*.js assets/*.css assets/*.svg
var assetFS embed.FS

// page is what every page's layout needs.
type page struct {
	Title  string
	Origin string
	Nav    string // which part of the site: report, log or ops
}

var funcs = template.FuncMap{
	"scope": func(tenant, unit string) string {
		if unit == "" {
			return tenant + " (tenant)"
		}
		return unit
	},
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"day": func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	"short": func(s string) string {
		if len(s) > 10 {
			return s[:8] + "…"
		}
		return s
	},
	"join": strings.Join,
	// brief is at most three of an entry's attributes, each cut to 80
	// characters, for a table row; the entry's page shows them all.
	"brief": func(attrs []record.Attr) []string {
		var out []string
		for i, a := range attrs {
			if i == 3 {
				out = append(out, fmt.Sprintf("… %d more", len(attrs)-3))
				break
			}
			v := a.Key + ": " + a.Value
			if len([]rune(v)) > 80 {
				v = string([]rune(v)[:79]) + "…"
			}
			out = append(out, v)
		}
		return out
	},
	"band": report.Band.String,
	"bytes": func(n uint64) string {
		const units = "KMGTPE"
		if n < 1024 {
			return fmt.Sprintf("%d B", n)
		}
		v, i := float64(n)/1024, 0
		for v >= 1024 && i < len(units)-1 {
			v /= 1024
			i++
		}
		return fmt.Sprintf("%.1f %ciB", v, units[i])
	},
	"ratio": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return strconv.FormatFloat(*f, 'f', -1, 64) + "×"
	},
	"percent": func(n, cap int64) int64 {
		if cap <= 0 {
			return 0
		}
		return n * 100 / cap
	},
	"percentOf": func(n, pct int64) int64 { return n * pct / 100 },
	"days":      func(d time.Duration) int64 { return int64(d / (24 * time.Hour)) },
}

// parse builds one page from the layout and its own template.
func parse(name string) *template.Template {
	return template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name))
}

var (
	publicTmpl = parse("public.html")
	browseTmpl = parse("browse.html")
	entryTmpl  = parse("entry.html")
	loginTmpl  = parse("login.html")
	opsTmpl    = parse("ops.html")
	errorTmpl  = parse("error.html")
)

// render executes t into a buffer first, so that a template error becomes
// a clean 500 rather than half a page.
func (c *console) render(w http.ResponseWriter, r *http.Request, t *template.Template, data any) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		c.cfg.Logger.Error("couldn't render page", "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

type errorPage struct {
	page
	Message string
	Detail  string
}

// fail renders an error page with status code.
func (c *console) fail(w http.ResponseWriter, r *http.Request, code int, msg, detail string) {
	w.WriteHeader(code)
	c.render(w, r, errorTmpl, &errorPage{page: page{Title: http.StatusText(code), Origin: c.cfg.Origin}, Message: msg, Detail: detail})
}

// assetHandler serves the embedded style and scripts. They change only
// with the binary, so browsers may keep them for an hour.
func assetHandler() http.Handler {
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ext := path.Ext(r.URL.Path); ext != ".js" && ext != ".css" && ext != ".svg" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
}
