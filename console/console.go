// Package console is custodes' HTTP face: the public transparency pages, the
// log itself for any verifier, and the operator's console.
//
// Public, no login:
//
//	GET /                    the transparency report for a period (?from=&to=)
//	GET /api/report          the same report as JSON, byte for byte what
//	                         `custodes report --format json` computes
//	GET /log/checkpoint,     the log, read-only, per C2SP tlog-tiles
//	    /log/tile/…
//	GET /log/browse          recent entries' public fields (?before=N)
//	GET /log/browse/N        one entry with its inclusion proof
//	GET /log/browse/N/bundle its evidence bundle (C2SP tlog-proof)
//	GET /assets/…            the pages' style and scripts, embedded
//	GET /healthz             health
//
// The operator's, behind the token from the config:
//
//	GET  /ops/               login form, or the console: alerts, coverage
//	                         against caps, authorities and their use,
//	                         suspensions with suspend and resume forms
//	POST /ops/login, /ops/logout
//	POST /ops/suspend, /ops/resume, /ops/authorities, /ops/revocations
//	GET  /metrics            Prometheus (bearer token)
//	     /ops/api/…          the JSON API the CLI uses (bearer token):
//	                         POST suspend, resume, authorities, revocations;
//	                         GET suspensions, authorities, coverage, alerts
//
// The report is computed with [report.Compute] from the deployment's own
// log directory, verified like any outsider's copy, and cached per
// checkpoint and period, so that page loads between checkpoints cost
// nothing. Pages are rendered on the server with html/template; their
// assets are embedded in the binary, scripts come only from /assets/
// (Content-Security-Policy 'self', no inline script) and the charts are
// Chart.js (see assets/README).
//
// The operator logs in by pasting the token into a form: the console then
// keeps a session (an HttpOnly, SameSite=Strict cookie, Secure over TLS)
// and every form that changes anything carries the session's CSRF token,
// checked in constant time. Sessions live in this process's memory only
// (see session.go): a restart signs every operator out. The JSON API takes
// only the bearer header, so a browser's cookie never authorises it. Every
// token presented, in the form or the header, counts against the client's
// allowance of wrong tokens (see limit.go): five, then one a minute, then
// 429.
package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custodes/custodes/translog"
)

// Config is what the console serves.
type Config struct {
	// LogDir is the log's directory, served read-only at /log/ and read for
	// the report and the log browser.
	LogDir string
	Origin string
	// VerifierKey is the log's verifier key: the report and the proofs the
	// console shows are checked against it, and the public page prints it.
	VerifierKey string
	// Caps are the AUP-6 coverage caps, drawn on the public coverage chart.
	Caps Caps
	// RuleTitles name the policy's rules (AUP-3: "bulk result").
	RuleTitles map[string]string
	// Token guards the operator endpoints (/metrics and /ops/).
	Token string
	// Metrics are served at /metrics.
	Metrics prometheus.Gatherer
	// Health is checked by /healthz.
	Health func(context.Context) error
	// Operator carries out the operator's actions and feeds the console.
	Operator Operator
	Logger   *slog.Logger
	// Now is the console's clock, for the login limit and session expiry;
	// time.Now if nil (tests set it).
	Now func() time.Time
}

// Caps are the coverage caps of AUP-6: the most distinct subjects a unit
// and the tenant may receive rows about within the coverage window. Zero
// means no cap.
type Caps struct{ Unit, Tenant int64 }

// New returns the console's handler.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &console{
		cfg:      cfg,
		reports:  newReports(cfg.LogDir, cfg.VerifierKey),
		sessions: newSessions(cfg.Now),
		limit:    newLoginLimiter(cfg.Now, cfg.Logger),
	}
	mux := http.NewServeMux()

	// Public.
	mux.HandleFunc("GET /{$}", c.publicPage)
	mux.HandleFunc("GET /api/report", c.apiReport)
	mux.Handle("GET /log/", http.StripPrefix("/log", translog.Handler(cfg.LogDir)))
	mux.HandleFunc("GET /log/browse", c.browsePage)
	mux.HandleFunc("GET /log/browse/{index}", c.entryPage)
	mux.HandleFunc("GET /log/browse/{index}/bundle", c.entryBundle)
	mux.Handle("GET /assets/", assetHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := cfg.Health(r.Context()); err != nil {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})

	// The operator's pages: a session from the login form.
	mux.HandleFunc("GET /ops/{$}", c.opsPage)
	mux.HandleFunc("POST /ops/login", c.login)
	mux.Handle("POST /ops/logout", c.form(c.logout))
	mux.Handle("POST /ops/suspend", c.form(c.suspendForm))
	mux.Handle("POST /ops/resume", c.form(c.resumeForm))
	mux.Handle("POST /ops/authorities", c.form(c.issueForm))
	mux.Handle("POST /ops/revocations", c.form(c.revokeForm))

	// The operator's API: the bearer token only.
	mux.Handle("GET /metrics", c.bearer(promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{})))
	c.api(mux)
	return securityHeaders(mux)
}

// console is the state behind the handlers.
type console struct {
	cfg      Config
	reports  *reports
	sessions *sessions
	// limit counts wrong operator tokens per client.
	limit *loginLimiter
}

// csp allows scripts, styles, images and connections from the console
// itself only: no inline script or style, no framing, no plugins, forms
// only to the console.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		// same-origin, not no-referrer: with no-referrer, browsers send
		// "Origin: null" with the console's own forms.
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Content-Security-Policy", csp)
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// scheme is how the client reached the console, for the URLs the pages
// print.
func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// errNoCheckpoint is a log that has published nothing yet.
var errNoCheckpoint = errors.New("the log has not published a checkpoint yet")
