package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

// Format names this report's schema; a report with other fields gets a
// new name.
const Format = "custodes/report/v1"

// Window is the coverage window, AUP-6's rolling 30 days.
const Window = 30

// maxEvents bounds the suspensions and policy versions a report lists, so
// that a log of nothing else cannot grow the report without bound; the
// counts stay exact and Omitted says how many were left out.
const maxEvents = 1000

// Options are the optional parts of [Compute].
type Options struct {
	// From and To bound the period: entries timed at or after From and
	// before To. A zero bound is open.
	From, To time.Time
	// Progress, if set, is called as entries are verified (see
	// translog.VerifyOptions.Progress).
	Progress func(done, total uint64)
}

// Report is a transparency report. Its JSON encoding is the published
// form; every slice is sorted and every time is UTC RFC 3339.
type Report struct {
	Format        string        `json:"format"`
	Checkpoint    Checkpoint    `json:"checkpoint"`
	Period        Period        `json:"period"`
	Banding       Banding       `json:"banding"`
	Entries       Entries       `json:"entries"`
	Statements    Statements    `json:"statements"`
	Authorities   []Authorities `json:"authorities"`
	Subjects      []Subjects    `json:"subjects"`
	Coverage      Coverage      `json:"coverage"`
	Suspensions   Suspensions   `json:"suspensions"`
	Storage       []Storage     `json:"storage"`
	LoginFailures uint64        `json:"login_failures"`
	Policies      Policies      `json:"policies"`
	Alerts        Alerts        `json:"alerts"`
}

// Checkpoint names the signed checkpoint the report was computed from.
type Checkpoint struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   string `json:"root"` // lowercase hex
}

// Period is the period asked for and the times of the first and last
// entries found in it.
type Period struct {
	From       string `json:"from,omitempty"` // inclusive; absent if open
	To         string `json:"to,omitempty"`   // exclusive; absent if open
	FirstEntry string `json:"first_entry,omitempty"`
	LastEntry  string `json:"last_entry,omitempty"`
}

// Banding says how small cells are shown, and which fields are banded.
type Banding struct {
	Width  uint64   `json:"width"`
	Rule   string   `json:"rule"`
	Fields []string `json:"fields"`
}

// Entries counts the period's entries, by kind.
type Entries struct {
	Total  uint64      `json:"total"`
	ByKind []KindCount `json:"by_kind"`
}

// KindCount is the number of entries of one kind.
type KindCount struct {
	Kind  string `json:"kind"`
	Count uint64 `json:"count"`
}

// Statements counts statement decisions, exactly.
type Statements struct {
	Total   uint64 `json:"total"`
	Allowed uint64 `json:"allowed"`
	Denied  uint64 `json:"denied"`
	// DenialsByRule counts denials per rule; a statement denied by two
	// rules counts once for each.
	DenialsByRule []RuleCount `json:"denials_by_rule"`
	// ByUnit is per tenant and unit (unit empty for statements without one).
	ByUnit []UnitStatements `json:"by_unit"`
	// IncompleteTokens counts allowed statements whose entry lists fewer
	// subject tokens than its subject count: the distinct-subject counts
	// are lower bounds when it is not 0.
	IncompleteTokens uint64 `json:"incomplete_tokens"`
}

// RuleCount is how often a rule was named.
type RuleCount struct {
	Rule  string `json:"rule"`
	Count uint64 `json:"count"`
}

// UnitStatements are one unit's statement decisions.
type UnitStatements struct {
	Tenant  string `json:"tenant"`
	Unit    string `json:"unit,omitempty"`
	Allowed uint64 `json:"allowed"`
	Denied  uint64 `json:"denied"`
}

// Authorities are the authorities of one kind issued and revoked in the
// period, banded.
type Authorities struct {
	Kind    string `json:"kind"` // "unspecified" for entries without one
	Issued  Band   `json:"issued"`
	Revoked Band   `json:"revoked"`
}

// Subjects are the distinct subjects a tenant (Unit empty) or a unit
// received rows about in the period, and the most it held within one
// coverage window, banded.
type Subjects struct {
	Tenant   string `json:"tenant"`
	Unit     string `json:"unit,omitempty"`
	Distinct Band   `json:"distinct"`
	Peak     Band   `json:"peak_window"`
}

// Coverage is, for each day of the period on which the log recorded
// anything, the distinct subjects each tenant and unit received rows about
// in the Window days ending that day (see the package doc).
type Coverage struct {
	WindowDays int      `json:"window_days"`
	Days       []string `json:"days"`   // YYYY-MM-DD, UTC
	Series     []Series `json:"series"` // sorted by tenant, then unit ("" first)
}

// Series is one tenant's (Unit empty) or unit's coverage, one band per day
// of Coverage.Days.
type Series struct {
	Tenant   string `json:"tenant"`
	Unit     string `json:"unit,omitempty"`
	Subjects []Band `json:"subjects"`
}

// Suspensions are the suspensions and resumptions of tenants and units.
type Suspensions struct {
	Suspensions uint64  `json:"suspensions"`
	Resumptions uint64  `json:"resumptions"`
	Events      []Event `json:"events"` // in log order, at most 1000
	Omitted     uint64  `json:"omitted"`
}

// Event is one suspension or resumption.
type Event struct {
	Time   string `json:"time"`
	Kind   string `json:"kind"` // suspension or resumption
	Tenant string `json:"tenant"`
	Unit   string `json:"unit,omitempty"` // empty: the whole tenant
	Reason string `json:"reason,omitempty"`
}

// Storage is one tenant's storage attestations: the data it keeps in its
// registered datasets.
type Storage struct {
	Tenant       string `json:"tenant"`
	Attestations uint64 `json:"attestations"`
	// First and Last are the totals at the end of the first and last days
	// of the period with an attestation.
	First Sample `json:"first"`
	Last  Sample `json:"last"`
	// GrowthBytes and GrowthRows are Last/First, rounded to 3 decimals;
	// absent when First is 0.
	GrowthBytes *float64        `json:"growth_bytes,omitempty"`
	GrowthRows  *float64        `json:"growth_rows,omitempty"`
	Datasets    []DatasetGrowth `json:"datasets"`
	Days        []Sample        `json:"days"`
}

// Sample is the stored data at the end of a day: for each dataset, its
// latest attested rows and bytes, summed.
type Sample struct {
	Date  string `json:"date"`
	Rows  uint64 `json:"rows"`
	Bytes uint64 `json:"bytes"`
}

// DatasetGrowth is one dataset at the First and Last samples (0 if not yet
// attested then).
type DatasetGrowth struct {
	Dataset     string   `json:"dataset"`
	FirstRows   uint64   `json:"first_rows"`
	FirstBytes  uint64   `json:"first_bytes"`
	LastRows    uint64   `json:"last_rows"`
	LastBytes   uint64   `json:"last_bytes"`
	GrowthBytes *float64 `json:"growth_bytes,omitempty"`
}

// Policies are the policy versions published in the period.
type Policies struct {
	Published uint64          `json:"published"`
	Versions  []PolicyVersion `json:"versions"` // in log order, at most 1000
	Omitted   uint64          `json:"omitted"`
}

// PolicyVersion is one published policy.
type PolicyVersion struct {
	Time    string   `json:"time"`
	Tenant  string   `json:"tenant"`
	Version string   `json:"version,omitempty"`
	Policy  string   `json:"policy"` // hash
	Rules   []string `json:"rules"`
}

// Alerts counts alerts, exactly, by the rules they name.
type Alerts struct {
	Total  uint64      `json:"total"`
	ByRule []RuleCount `json:"by_rule"`
}

// Compute verifies the log in src against vkey and computes the report of
// the period opts asks for. It streams the log: memory grows with the
// distinct subjects, units and days, not with the entries. It fails, with
// the *translog.VerifyError as returned by translog.Verify, unless the whole
// log verifies and every entry is a valid custodes entry: numbers from a
// log that does not verify are not published.
func Compute(ctx context.Context, src translog.Source, vkey string, opts Options) (*Report, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse verifier key: %w", err)
	}
	if !opts.From.IsZero() && !opts.To.IsZero() && !opts.To.After(opts.From) {
		return nil, errors.New("couldn't compute report: the period ends before it begins")
	}
	t := newTally(opts.From, opts.To)
	res, err := translog.Verify(ctx, src, vkey, translog.VerifyOptions{
		Entry: func(i uint64, b []byte) error {
			e, err := record.Parse(b)
			if err != nil {
				return fmt.Errorf("entry %d is not a valid custodes entry: %w", i, err)
			}
			t.add(e)
			return nil
		},
		Progress: opts.Progress,
	})
	if err != nil {
		return nil, err
	}
	r := t.report()
	r.Checkpoint = Checkpoint{Origin: v.Name(), Size: res.Size, Root: fmt.Sprintf("%x", res.Root)}
	return r, nil
}

// JSON is the report's published encoding: indented, with a final newline,
// byte-identical for the same log and period.
func (r *Report) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	// The report holds free text (reasons); don't turn <, > and & into
	// \u escapes that a reader would have to undo.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("couldn't encode report: %w", err)
	}
	return b.Bytes(), nil
}
