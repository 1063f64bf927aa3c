package console

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/custodes/custodes/control"
)

// Operator is what the operator's console and API act on and show.
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

	// Coverage lists the tenant (Unit empty) and then each of its units,
	// with the distinct subjects each received rows about within the
	// coverage window, as AUP-6 counts them.
	Coverage(ctx context.Context) ([]Coverage, error)
	// AuthorityUse is what the log records of each authority's use, by
	// authority id; an authority never used may be missing.
	AuthorityUse(ctx context.Context) (map[string]AuthorityUse, error)
	// Alerts lists what the operator should look at, newest first.
	Alerts(ctx context.Context) ([]Alert, error)
}

// Coverage is a tenant's or unit's coverage against its AUP-6 cap.
type Coverage struct {
	Tenant   string `json:"tenant"`
	Unit     string `json:"unit,omitempty"` // empty: the whole tenant
	Analysts int    `json:"analysts"`
	// Subjects are the distinct subjects received within Window.
	Subjects int64         `json:"subjects"`
	Cap      int64         `json:"cap"` // 0: no cap
	Window   time.Duration `json:"window_ns"`
	// AlertAt is the number of subjects from which a coverage alert is
	// raised (alerts.coverage_percent of Cap); 0 without a cap.
	AlertAt int64 `json:"alert_at,omitempty"`
}

// AuthorityUse counts the statements the log records under one authority.
type AuthorityUse struct {
	Allowed uint64 `json:"allowed"`
	Denied  uint64 `json:"denied"`
	Rows    uint64 `json:"rows"`
	// Subjects are the distinct subject tokens of its allowed statements.
	Subjects uint64    `json:"subjects"`
	Last     time.Time `json:"last"` // zero if never used
}

// Alert is one thing for the operator to look at.
type Alert struct {
	Time   string `json:"time"` // RFC 3339, UTC
	Kind   string `json:"kind"` // coverage, denials, suspension, or an alert entry's kind
	Unit   string `json:"unit,omitempty"`
	Detail string `json:"detail"`
}

// ErrBadRequest marks an operator error the console answers with 400.
var ErrBadRequest = errors.New("bad request")

// bearer admits requests bearing the operator token, compared in constant
// time; anything else gets 401 and no detail. A presented token spends one
// of the client's attempts first: with none left, 429 and no comparison.
func (c *console) bearer(h http.Handler) http.Handler {
	unauthorized := func(w http.ResponseWriter) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="custodes"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			unauthorized(w)
			return
		}
		if ok, wait := c.limit.attempt(r); !ok {
			tooMany(w, wait)
			return
		}
		if !tokenOK(c.cfg.Token, got) {
			c.limit.refused(r)
			unauthorized(w)
			return
		}
		c.limit.accepted(r)
		h.ServeHTTP(w, r)
	})
}

// tokenOK compares in constant time; an empty configured token admits
// nobody.
func tokenOK(token, got string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// api mounts the JSON API under /ops/api/.
func (c *console) api(mux *http.ServeMux) {
	op, bearer := c.cfg.Operator, c.bearer
	mux.Handle("POST /ops/api/suspend", bearer(c.action(op.Suspend)))
	mux.Handle("POST /ops/api/resume", bearer(c.action(op.Resume)))
	mux.Handle("POST /ops/api/authorities", bearer(c.signedAction(func(ctx context.Context, b []byte) (any, error) {
		created, idx, err := op.IssueAuthority(ctx, b)
		return IssueResponse{Entry: idx, Created: created}, err
	})))
	mux.Handle("POST /ops/api/revocations", bearer(c.signedAction(func(ctx context.Context, b []byte) (any, error) {
		idx, err := op.RevokeAuthority(ctx, b)
		return ActionResponse{Entry: idx}, err
	})))
	mux.Handle("GET /ops/api/authorities", bearer(c.list(func(ctx context.Context) (any, error) {
		as, err := op.Authorities(ctx)
		if err != nil {
			return nil, err
		}
		use, err := op.AuthorityUse(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]AuthoritySummary, 0, len(as))
		for _, a := range as {
			s := summarize(a)
			u := use[a.ID]
			s.Use = &u
			out = append(out, s)
		}
		return out, nil
	})))
	mux.Handle("GET /ops/api/suspensions", bearer(c.list(func(ctx context.Context) (any, error) {
		return op.Suspensions(ctx)
	})))
	mux.Handle("GET /ops/api/coverage", bearer(c.list(func(ctx context.Context) (any, error) {
		return op.Coverage(ctx)
	})))
	mux.Handle("GET /ops/api/alerts", bearer(c.list(func(ctx context.Context) (any, error) {
		return op.Alerts(ctx)
	})))
}

func (c *console) list(get func(ctx context.Context) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := get(r.Context())
		if err != nil {
			c.cfg.Logger.Error("couldn't answer the operator API", "path", r.URL.Path, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		writeJSON(w, v)
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

func (c *console) action(do func(ctx context.Context, tenant, unit, reason string) (uint64, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ActionRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "custodes: the request is not an action: "+err.Error(), http.StatusBadRequest)
			return
		}
		idx, err := do(r.Context(), req.Tenant, req.Unit, req.Reason)
		if c.apiError(w, err) {
			return
		}
		writeJSON(w, ActionResponse{Entry: idx})
	})
}

// apiError answers err, if there is one, and says whether it did.
func (c *console) apiError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrBadRequest):
		http.Error(w, "custodes: "+err.Error(), http.StatusBadRequest)
	default:
		c.cfg.Logger.Error("operator action failed", "err", err)
		http.Error(w, "custodes: the action could not be taken: "+err.Error(), http.StatusInternalServerError)
	}
	return true
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
	// Use is what the log records of its use.
	Use *AuthorityUse `json:"use,omitempty"`
}

func summarize(a *control.Authority) AuthoritySummary {
	return AuthoritySummary{ID: a.ID, Kind: a.Kind, Reference: a.Reference, Unit: a.Unit, Datasets: a.Datasets,
		Subjects: len(a.Subjects), MaxSubjects: a.MaxSubjects, NotBefore: a.NotBefore.UTC(), NotAfter: a.NotAfter.UTC(),
		Approver: a.Approver, Status: a.Status}
}

// signedAction takes an approver's signed note as the request body.
func (c *console) signedAction(do func(ctx context.Context, signed []byte) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			http.Error(w, "custodes: the signed note is too large", http.StatusBadRequest)
			return
		}
		out, err := do(r.Context(), b)
		if c.apiError(w, err) {
			return
		}
		writeJSON(w, out)
	})
}
