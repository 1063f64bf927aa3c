package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/custodes/custodes/control"
)

type loginPage struct {
	page
	Refused bool
	TooMany bool // out of attempts (limit.go)
}

type opsData struct {
	page
	CSRF        string
	SessionEnds time.Time // if not used before then
	Flash       string
	FlashOK     bool
	Tenant      string
	Alerts      []Alert
	AlertsErr   string
	Coverage    []coverageRow
	CoverageErr string
	Authorities []authorityRow
	AuthErr     string
	Suspended   int
}

type coverageRow struct {
	Coverage
	Percent   int64
	Suspended *control.Suspended
	// Under is a suspension of the whole tenant, which covers the unit too.
	Under *control.Suspended
}

type authorityRow struct {
	*control.Authority
	Use   AuthorityUse
	State string // active, revoked, expired, not yet valid
}

// opsPage is the login form without a session, and the console with one.
func (c *console) opsPage(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	_, x := c.sessions.get(r)
	if x == nil {
		c.render(w, r, loginTmpl, &loginPage{page: page{Title: "Operator login", Origin: c.cfg.Origin, Nav: "ops"}})
		return
	}
	d := &opsData{page: page{Title: "Operator console", Origin: c.cfg.Origin, Nav: "ops"}, CSRF: x.csrf, SessionEnds: c.sessions.endsOf(x)}
	d.Flash, d.FlashOK = c.sessions.takeFlash(x)
	ctx := r.Context()
	op := c.cfg.Operator

	var err error
	if d.Alerts, err = op.Alerts(ctx); err != nil {
		d.AlertsErr = c.opsError("alerts", err)
	}

	sus, err := op.Suspensions(ctx)
	if err != nil {
		d.CoverageErr = c.opsError("suspensions", err)
	}
	d.Suspended = len(sus)
	cov, err := op.Coverage(ctx)
	if err != nil {
		d.CoverageErr = c.opsError("coverage", err)
	}
	var tenantSuspended *control.Suspended
	for i := range sus {
		if sus[i].Unit == "" {
			tenantSuspended = &sus[i]
		}
	}
	for _, cv := range cov {
		row := coverageRow{Coverage: cv}
		if cv.Cap > 0 {
			row.Percent = cv.Subjects * 100 / cv.Cap
		}
		d.Tenant = cv.Tenant
		for i := range sus {
			if sus[i].Tenant == cv.Tenant && sus[i].Unit == cv.Unit {
				row.Suspended = &sus[i]
			}
		}
		if cv.Unit != "" {
			row.Under = tenantSuspended
		}
		d.Coverage = append(d.Coverage, row)
	}

	as, err := op.Authorities(ctx)
	if err != nil {
		d.AuthErr = c.opsError("authorities", err)
	}
	use, err := op.AuthorityUse(ctx)
	if err != nil {
		d.AuthErr = c.opsError("authority use", err)
	}
	now := time.Now()
	for _, a := range as {
		row := authorityRow{Authority: a, Use: use[a.ID], State: a.Status}
		switch {
		case a.Status != "active":
		case now.Before(a.NotBefore):
			row.State = "not yet valid"
		case !now.Before(a.NotAfter):
			row.State = "expired"
		}
		d.Authorities = append(d.Authorities, row)
	}
	c.render(w, r, opsTmpl, d)
}

func (c *console) opsError(what string, err error) string {
	c.cfg.Logger.Error("couldn't read "+what+" for the operator console", "err", err)
	return "couldn't read " + what + ": " + err.Error()
}

// done ends an action: its outcome is shown once on the console, where the
// browser is sent back to (post, redirect, get).
func (c *console) done(w http.ResponseWriter, r *http.Request, x *session, msg string, err error) {
	switch {
	case err == nil:
		c.sessions.setFlash(x, msg, true)
	case errors.Is(err, ErrBadRequest):
		c.sessions.setFlash(x, strings.TrimPrefix(err.Error(), ErrBadRequest.Error()+": "), false)
	default:
		c.cfg.Logger.Error("operator action failed", "path", r.URL.Path, "err", err)
		c.sessions.setFlash(x, "The action could not be taken: "+err.Error(), false)
	}
	http.Redirect(w, r, "/ops/", http.StatusSeeOther)
}

func describe(tenant, unit string) string {
	if unit == "" {
		return "tenant " + tenant
	}
	return "unit " + unit + " of " + tenant
}

func (c *console) suspendForm(w http.ResponseWriter, r *http.Request, _ string, x *session) {
	c.switchForm(w, r, x, "suspended", c.cfg.Operator.Suspend)
}

func (c *console) resumeForm(w http.ResponseWriter, r *http.Request, _ string, x *session) {
	c.switchForm(w, r, x, "resumed", c.cfg.Operator.Resume)
}

// switchForm suspends or resumes. The reason is required for both here:
// it goes on the public record beside the action.
func (c *console) switchForm(w http.ResponseWriter, r *http.Request, x *session, verb string,
	do func(ctx context.Context, tenant, unit, reason string) (uint64, error)) {
	tenant, unit := r.PostForm.Get("tenant"), r.PostForm.Get("unit")
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		c.done(w, r, x, "", fmt.Errorf("%w: a reason is required: it goes on the public record", ErrBadRequest))
		return
	}
	idx, err := do(r.Context(), tenant, unit, reason)
	c.done(w, r, x, fmt.Sprintf("%s %s, recorded as entry %d.", capitalize(describe(tenant, unit)), verb, idx), err)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (c *console) issueForm(w http.ResponseWriter, r *http.Request, _ string, x *session) {
	signed := normalizeNote(r.PostForm.Get("signed"))
	created, idx, err := c.cfg.Operator.IssueAuthority(r.Context(), []byte(signed))
	msg := fmt.Sprintf("Authority recorded as entry %d.", idx)
	if !created {
		msg = "That authority was recorded already; nothing changed."
	}
	c.done(w, r, x, msg, err)
}

func (c *console) revokeForm(w http.ResponseWriter, r *http.Request, _ string, x *session) {
	idx, err := c.cfg.Operator.RevokeAuthority(r.Context(), []byte(normalizeNote(r.PostForm.Get("signed"))))
	c.done(w, r, x, fmt.Sprintf("Authority revoked, recorded as entry %d.", idx), err)
}

// normalizeNote undoes what a textarea does to a pasted signed note: CRLF
// line ends, and a missing final newline.
func normalizeNote(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	return s + "\n"
}
