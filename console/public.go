package console

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/custodes/custodes/report"
	"github.com/custodes/custodes/translog"
)

// parsePeriod reads ?from= and ?to= as `custodes report` reads --from and
// --to: an RFC 3339 time or a date (UTC midnight); empty is open.
func parsePeriod(q url.Values) (period, error) {
	var p period
	var err error
	if p.from, err = parseTime(q.Get("from")); err != nil {
		return p, fmt.Errorf("from: %w", err)
	}
	if p.to, err = parseTime(q.Get("to")); err != nil {
		return p, fmt.Errorf("to: %w", err)
	}
	if !p.from.IsZero() && !p.to.IsZero() && !p.to.After(p.from) {
		return p, errors.New("the period ends before it begins")
	}
	return p, nil
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor YYYY-MM-DD", s)
	}
	return t.UTC(), nil
}

// reportFor answers with the report of the request's period, or with an
// error page and nil.
func (c *console) reportFor(w http.ResponseWriter, r *http.Request) (*computed, period) {
	p, err := parsePeriod(r.URL.Query())
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "That is not a period.", err.Error())
		return nil, p
	}
	res, err := c.reports.get(r.Context(), p)
	var ve *translog.VerifyError
	switch {
	case err == nil:
		return res, p
	case errors.Is(err, errNoCheckpoint):
		c.fail(w, r, http.StatusServiceUnavailable, "The log has not published a checkpoint yet.", "")
	case errors.As(err, &ve):
		// The evidence is public: the log is.
		c.cfg.Logger.Error("the log does not verify", "err", err)
		c.fail(w, r, http.StatusInternalServerError, "The log does not verify: no numbers are published.", ve.Error())
	default:
		c.cfg.Logger.Error("couldn't compute the report", "err", err)
		c.fail(w, r, http.StatusInternalServerError, "The report could not be computed.", "")
	}
	return nil, p
}

// apiReport is the report as JSON, byte for byte what `custodes report
// --format json` computes from the same checkpoint and period.
func (c *console) apiReport(w http.ResponseWriter, r *http.Request) {
	p, err := parsePeriod(r.URL.Query())
	if err != nil {
		http.Error(w, "custodes: "+err.Error(), http.StatusBadRequest)
		return
	}
	res, err := c.reports.get(r.Context(), p)
	var ve *translog.VerifyError
	switch {
	case errors.Is(err, errNoCheckpoint):
		http.Error(w, "custodes: "+err.Error(), http.StatusServiceUnavailable)
		return
	case errors.As(err, &ve):
		http.Error(w, "custodes: "+ve.Error(), http.StatusInternalServerError)
		return
	case err != nil:
		c.cfg.Logger.Error("couldn't compute the report", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("ETag", `"`+hex.EncodeToString(sha256Of(res.json))+`"`)
	if r.Header.Get("If-None-Match") == h.Get("ETag") {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(res.json)
}

func sha256Of(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

type publicPage struct {
	page
	R          *report.Report
	Checkpoint checkpointInfo
	// From and To are the form's values; the Period's are canonical.
	From, To     string
	LogURL       string
	VerifierKey  string
	APIPath      string
	ReportFlags  string // --from/--to of the same period
	JSONSHA256   string
	SuspendedNow []report.Event
	Caps         Caps
	Charts       chartData
	RuleTitles   map[string]string
	Quick        []link
}

type link struct{ Name, URL string }

// quickPeriods are links to common periods, in whole UTC days.
func quickPeriods(now time.Time) []link {
	today := now.UTC().Truncate(24 * time.Hour)
	day := func(t time.Time) string { return t.Format(time.DateOnly) }
	return []link{
		{"all time", "/"},
		{"last 30 days", "/?from=" + day(today.AddDate(0, 0, -29))},
		{"last 7 days", "/?from=" + day(today.AddDate(0, 0, -6))},
		{"today", "/?from=" + day(today)},
	}
}

// chartData goes to assets/charts.js as a JSON data block.
type chartData struct {
	Series   *series            `json:"series"`
	Denials  []report.RuleCount `json:"denials"`
	Coverage coverageChart      `json:"coverage"`
	Storage  []storageChart     `json:"storage"`
}

type coverageChart struct {
	WindowDays int          `json:"window_days"`
	Days       []string     `json:"days"`
	Units      []bandSeries `json:"units"`
	UnitCap    int64        `json:"unit_cap"`
	Tenants    []bandSeries `json:"tenants"`
	TenantCap  int64        `json:"tenant_cap"`
}

// bandSeries is a banded count per day: the true value is between Min and
// Max.
type bandSeries struct {
	Name string   `json:"name"`
	Min  []uint64 `json:"min"`
	Max  []uint64 `json:"max"`
}

type storageChart struct {
	Tenant string   `json:"tenant"`
	Days   []string `json:"days"`
	Bytes  []uint64 `json:"bytes"`
	Rows   []uint64 `json:"rows"`
}

func (c *console) publicPage(w http.ResponseWriter, r *http.Request) {
	res, p := c.reportFor(w, r)
	if res == nil {
		return
	}
	rep := res.r
	pg := &publicPage{
		page:        page{Title: "Transparency report", Origin: c.cfg.Origin, Nav: "report"},
		R:           rep,
		Checkpoint:  res.checkpoint,
		From:        r.URL.Query().Get("from"),
		To:          r.URL.Query().Get("to"),
		LogURL:      scheme(r) + "://" + r.Host + "/log/",
		VerifierKey: c.cfg.VerifierKey,
		APIPath:     "/api/report",
		JSONSHA256:  hex.EncodeToString(sha256Of(res.json)),
		Caps:        c.cfg.Caps,
		RuleTitles:  c.cfg.RuleTitles,
		Quick:       quickPeriods(time.Now()),
	}
	q := url.Values{}
	if rep.Period.From != "" {
		q.Set("from", rep.Period.From)
		pg.ReportFlags += " --from " + rep.Period.From
	}
	if rep.Period.To != "" {
		q.Set("to", rep.Period.To)
		pg.ReportFlags += " --to " + rep.Period.To
	}
	if len(q) > 0 {
		pg.APIPath += "?" + q.Encode()
	}
	if p.from.IsZero() && p.to.IsZero() && rep.Suspensions.Omitted == 0 {
		pg.SuspendedNow = inForce(rep.Suspensions.Events)
	}
	pg.Charts = chartData{Series: res.series, Denials: rep.Statements.DenialsByRule, Storage: []storageChart{}}
	cov := coverageChart{WindowDays: rep.Coverage.WindowDays, Days: rep.Coverage.Days, UnitCap: c.cfg.Caps.Unit, TenantCap: c.cfg.Caps.Tenant,
		Units: []bandSeries{}, Tenants: []bandSeries{}}
	for _, s := range rep.Coverage.Series {
		b := bandSeries{Name: s.Unit, Min: make([]uint64, len(s.Subjects)), Max: make([]uint64, len(s.Subjects))}
		for i, v := range s.Subjects {
			b.Min[i], b.Max[i] = v.Min, v.Max
		}
		if s.Unit == "" {
			b.Name = s.Tenant
			cov.Tenants = append(cov.Tenants, b)
		} else {
			cov.Units = append(cov.Units, b)
		}
	}
	pg.Charts.Coverage = cov
	for _, s := range rep.Storage {
		sc := storageChart{Tenant: s.Tenant}
		for _, d := range s.Days {
			sc.Days = append(sc.Days, d.Date)
			sc.Bytes = append(sc.Bytes, d.Bytes)
			sc.Rows = append(sc.Rows, d.Rows)
		}
		pg.Charts.Storage = append(pg.Charts.Storage, sc)
	}
	w.Header().Set("Cache-Control", "no-cache")
	c.render(w, r, publicTmpl, pg)
}

// inForce is the suspensions that events, the log's whole history of
// them in order, leave in force.
func inForce(events []report.Event) []report.Event {
	type target struct{ tenant, unit string }
	last := map[target]int{}
	var order []target
	for i, e := range events {
		t := target{e.Tenant, e.Unit}
		if _, ok := last[t]; !ok {
			order = append(order, t)
		}
		last[t] = i
	}
	var out []report.Event
	for _, t := range order {
		if e := events[last[t]]; e.Kind == "suspension" {
			out = append(out, e)
		}
	}
	return out
}
