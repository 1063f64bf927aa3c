// Package console is custodes' HTTP face: the public transparency pages, the
// log itself for any verifier (C2SP tlog-tiles, read-only, at /log/), and the
// operator's endpoints.
package console

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/translog"
)

// Config is what the console serves.
type Config struct {
	// LogDir is the log's directory, served read-only at /log/.
	LogDir string
	Origin string
	// Token guards the operator endpoints (/metrics and /ops/).
	Token string
	// Metrics are served at /metrics.
	Metrics prometheus.Gatherer
	// Health is checked by /healthz.
	Health func(context.Context) error
	// Operator carries out the operator's actions.
	Operator Operator
	Logger   *slog.Logger
}

// Operator is what the operator's endpoints act on.
type Operator interface {
	// Suspend and Resume record the action in the log, then take it; the
	// returned index is the entry's. Errors wrapping ErrBadRequest are the
	// operator's to fix.
	Suspend(ctx context.Context, tenant, unit, reason string) (uint64, error)
	Resume(ctx context.Context, tenant, unit, reason string) (uint64, error)
	Suspensions(ctx context.Context) ([]control.Suspended, error)
	// IssueAuthority and RevokeAuthority take an approver's signed note.
	IssueAuthority(ctx context.Context, signed []byte) (created bool, index uint64, err error)
	RevokeAuthority(ctx context.Context, signed []byte) (uint64, error)
	Authorities(ctx context.Context) ([]*control.Authority, error)
}

// ErrBadRequest marks an operator error the console answers with 400.
var ErrBadRequest = errors.New("bad request")

// New returns the console's handler.
func New(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /log/", http.StripPrefix("/log", translog.Handler(cfg.LogDir)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { home(w, r, cfg) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := cfg.Health(r.Context()); err != nil {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", operator(cfg.Token, promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{})))
	mux.Handle("POST /ops/api/suspend", operator(cfg.Token, action(cfg, cfg.Operator.Suspend)))
	mux.Handle("POST /ops/api/resume", operator(cfg.Token, action(cfg, cfg.Operator.Resume)))
	mux.Handle("POST /ops/api/authorities", operator(cfg.Token, signedAction(cfg, func(ctx context.Context, b []byte) (any, error) {
		created, idx, err := cfg.Operator.IssueAuthority(ctx, b)
		return IssueResponse{Entry: idx, Created: created}, err
	})))
	mux.Handle("POST /ops/api/revocations", operator(cfg.Token, signedAction(cfg, func(ctx context.Context, b []byte) (any, error) {
		idx, err := cfg.Operator.RevokeAuthority(ctx, b)
		return ActionResponse{Entry: idx}, err
	})))
	mux.Handle("GET /ops/api/authorities", operator(cfg.Token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as, err := cfg.Operator.Authorities(r.Context())
		if err != nil {
			cfg.Logger.Error("couldn't list authorities", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		out := make([]AuthoritySummary, 0, len(as))
		for _, a := range as {
			out = append(out, AuthoritySummary{ID: a.ID, Kind: a.Kind, Reference: a.Reference, Unit: a.Unit, Datasets: a.Datasets,
				Subjects: len(a.Subjects), MaxSubjects: a.MaxSubjects, NotBefore: a.NotBefore.UTC(), NotAfter: a.NotAfter.UTC(),
				Approver: a.Approver, Status: a.Status})
		}
		writeJSON(w, out)
	})))
	mux.Handle("GET /ops/api/suspensions", operator(cfg.Token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sus, err := cfg.Operator.Suspensions(r.Context())
		if err != nil {
			cfg.Logger.Error("couldn't list suspensions", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		writeJSON(w, sus)
	})))
	return securityHeaders(mux)
}

// operator admits requests bearing the operator token, compared in constant
// time; anything else gets 401 and no detail.
func operator(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="custodes"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

// ActionRequest is the body of POST /ops/api/suspend and /ops/api/resume.
type ActionRequest struct {
	Tenant string `json:"tenant"`
	Unit   string `json:"unit,omitempty"`
	Reason string `json:"reason"`
}

// ActionResponse names the log entry that records the action.
type ActionResponse struct {
	Entry uint64 `json:"entry"`
}

func action(cfg Config, do func(ctx context.Context, tenant, unit, reason string) (uint64, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ActionRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "custodes: the request is not an action: "+err.Error(), http.StatusBadRequest)
			return
		}
		idx, err := do(r.Context(), req.Tenant, req.Unit, req.Reason)
		if errors.Is(err, ErrBadRequest) {
			http.Error(w, "custodes: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err != nil {
			cfg.Logger.Error("operator action failed", "err", err)
			http.Error(w, "custodes: the action could not be taken: "+err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, ActionResponse{Entry: idx})
	})
}

// IssueResponse answers POST /ops/api/authorities.
type IssueResponse struct {
	Entry   uint64 `json:"entry"`
	Created bool   `json:"created"`
}

// AuthoritySummary is one authority as GET /ops/api/authorities lists it:
// how many subjects, not which.
type AuthoritySummary struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Reference   string    `json:"reference"`
	Unit        string    `json:"unit"`
	Datasets    []string  `json:"datasets"`
	Subjects    int       `json:"subjects"`
	MaxSubjects int64     `json:"max_subjects"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	Approver    string    `json:"approver"`
	Status      string    `json:"status"`
}

// signedAction takes an approver's signed note as the request body.
func signedAction(cfg Config, do func(ctx context.Context, signed []byte) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			http.Error(w, "custodes: the signed note is too large", http.StatusBadRequest)
			return
		}
		out, err := do(r.Context(), b)
		if errors.Is(err, ErrBadRequest) {
			http.Error(w, "custodes: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err != nil {
			cfg.Logger.Error("operator action failed", "err", err)
			http.Error(w, "custodes: the action could not be taken: "+err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, out)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

var homeTmpl = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>custodes — {{.Origin}}</title></head>
<body>
<h1>custodes transparency log</h1>
<p>Every statement analysts sent through this gateway, allowed or denied, is an entry in the public log <code>{{.Origin}}</code>.</p>
<h2>Latest checkpoint</h2>
<pre>{{.Checkpoint}}</pre>
<h2>Verify it yourself</h2>
<pre>custodes verify --log {{.LogURL}} --key VKEY</pre>
<p>The log is served per C2SP tlog-tiles at <a href="/log/checkpoint">/log/checkpoint</a>.</p>
</body></html>
`))

func home(w http.ResponseWriter, r *http.Request, cfg Config) {
	cp, err := os.ReadFile(filepath.Join(cfg.LogDir, "checkpoint"))
	if err != nil {
		cp = []byte("(no checkpoint published yet)")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	homeTmpl.Execute(w, map[string]string{
		"Origin":     cfg.Origin,
		"Checkpoint": string(cp),
		"LogURL":     scheme + "://" + r.Host + "/log/",
	})
}
