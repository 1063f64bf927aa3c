package policy

import (
	"fmt"

	cedar "github.com/cedar-policy/cedar-go"
)

// Phase is when a statement is judged.
type Phase int

const (
	// PhaseStatement is before execution: no result facts yet.
	PhaseStatement Phase = iota + 1
	// PhaseResult is after the backend produced the rows, before any is
	// released: ResultSubjects and Coverage include this result.
	PhaseResult
)

// String returns "statement" or "result", the Cedar action id of the phase.
func (p Phase) String() string {
	switch p {
	case PhaseStatement:
		return "statement"
	case PhaseResult:
		return "result"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// MarshalText implements [encoding.TextMarshaler].
func (p Phase) MarshalText() ([]byte, error) {
	if p != PhaseStatement && p != PhaseResult {
		return nil, fmt.Errorf("unknown phase %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler].
func (p *Phase) UnmarshalText(b []byte) error {
	switch string(b) {
	case "statement":
		*p = PhaseStatement
	case "result":
		*p = PhaseResult
	default:
		return fmt.Errorf("unknown phase %q (want statement or result)", b)
	}
	return nil
}

// Request is the facts about one analysed statement. The zero value of every
// field is the harmless one except Phase, which must be set.
//
// In the result phase fill every field as in the statement phase, plus
// ResultSubjects and Coverage: every rule is checked again, so an authority
// revoked or a unit suspended while the statement ran withholds its rows.
type Request struct {
	Phase                Phase      `yaml:"phase"`
	Tenant               string     `yaml:"tenant"`
	Unit                 string     `yaml:"unit"`
	Analyst              string     `yaml:"analyst"`
	Suspended            bool       `yaml:"suspended"`               // tenant or unit suspended
	Class                string     `yaml:"class"`                   // read, write, ddl, copy_out, copy_in, set, show, transaction, utility, empty, unknown
	Unjudged             []string   `yaml:"unjudged"`                // what the analyser did not understand
	Datasets             []Dataset  `yaml:"datasets"`                // every relation the statement touches
	ProtectedColumns     []string   `yaml:"protected_columns"`       // protected columns touched in any clause
	WholeRow             bool       `yaml:"whole_row"`               // whole-row reference reaching protected columns
	SubjectPredicate     bool       `yaml:"subject_predicate"`       // a predicate on the subject key
	PlaceOrTimePredicate bool       `yaml:"place_or_time_predicate"` // a predicate on place or time columns
	Hazards              []string   `yaml:"hazards"`                 // analysis hazard kinds (copy_to, do_block, …)
	Authority            *Authority `yaml:"authority"`               // nil: no authority in the session

	// Result phase only.
	ResultSubjects int64    `yaml:"result_subjects"` // distinct subjects in this result
	Coverage       Coverage `yaml:"coverage"`
}

// Dataset is one relation a statement touches.
type Dataset struct {
	Name        string `yaml:"name"`
	Category    string `yaml:"category"` // identity, location, communications, financial, speech, biometric, case, reference
	Registered  bool   `yaml:"registered"`
	PersonLevel bool   `yaml:"person_level"` // has a subject key
}

// Authority is the legal basis bound to the session.
type Authority struct {
	ID            string   `yaml:"id"`
	Kind          string   `yaml:"kind"` // judicial_warrant, court_order, subpoena, administrative
	Unit          string   `yaml:"unit"`
	Datasets      []string `yaml:"datasets"`       // dataset names; "*" means every dataset
	ListsSubjects bool     `yaml:"lists_subjects"` // scope is a subject list, else MaxSubjects
	Subjects      int64    `yaml:"subjects"`       // how many subjects are listed
	MaxSubjects   int64    `yaml:"max_subjects"`
	Active        bool     `yaml:"active"` // within its window and not revoked
}

// Coverage is distinct subjects received, after including this result's new
// subjects. A cap of 0 means no cap.
type Coverage struct {
	UnitSubjects   int64 `yaml:"unit_subjects"`
	UnitCap        int64 `yaml:"unit_cap"`
	TenantSubjects int64 `yaml:"tenant_subjects"`
	TenantCap      int64 `yaml:"tenant_cap"`
}

var (
	actionStatement = cedar.NewEntityUID("Action", "statement")
	actionResult    = cedar.NewEntityUID("Action", "result")
)

// cedarRequest maps r onto a Cedar request, as documented in the package
// comment. Cedar has no quantifiers over sets, so the per-dataset facts are
// projected into sets of names here, and the policy compares sets.
func cedarRequest(r *Request) (cedar.Request, error) {
	var action cedar.EntityUID
	switch r.Phase {
	case PhaseStatement:
		action = actionStatement
	case PhaseResult:
		action = actionResult
	default:
		return cedar.Request{}, fmt.Errorf("couldn't judge request: unknown phase %d", int(r.Phase))
	}

	var names, unregistered, personLevel, categories []cedar.Value
	for _, d := range r.Datasets {
		names = append(names, cedar.String(d.Name))
		if !d.Registered {
			unregistered = append(unregistered, cedar.String(d.Name))
		}
		if d.PersonLevel {
			personLevel = append(personLevel, cedar.String(d.Name))
		}
		if d.Category != "" {
			categories = append(categories, cedar.String(d.Category))
		}
	}

	ctx := cedar.RecordMap{
		"phase":                   cedar.String(r.Phase.String()),
		"tenant":                  cedar.String(r.Tenant),
		"unit":                    cedar.String(r.Unit),
		"analyst":                 cedar.String(r.Analyst),
		"suspended":               cedar.Boolean(r.Suspended),
		"class":                   cedar.String(r.Class),
		"unjudged":                stringSet(r.Unjudged),
		"datasets":                cedar.NewSet(names...),
		"unregistered":            cedar.NewSet(unregistered...),
		"person_level":            cedar.NewSet(personLevel...),
		"categories":              cedar.NewSet(categories...),
		"protected_columns":       stringSet(r.ProtectedColumns),
		"whole_row":               cedar.Boolean(r.WholeRow),
		"subject_predicate":       cedar.Boolean(r.SubjectPredicate),
		"place_or_time_predicate": cedar.Boolean(r.PlaceOrTimePredicate),
		"hazards":                 stringSet(r.Hazards),
		"result_subjects":         cedar.Long(r.ResultSubjects),
		"coverage": cedar.NewRecord(cedar.RecordMap{
			"unit_subjects":   cedar.Long(r.Coverage.UnitSubjects),
			"unit_cap":        cedar.Long(r.Coverage.UnitCap),
			"tenant_subjects": cedar.Long(r.Coverage.TenantSubjects),
			"tenant_cap":      cedar.Long(r.Coverage.TenantCap),
		}),
	}
	if a := r.Authority; a != nil {
		ctx["authority"] = cedar.NewRecord(cedar.RecordMap{
			"id":             cedar.String(a.ID),
			"kind":           cedar.String(a.Kind),
			"unit":           cedar.String(a.Unit),
			"datasets":       stringSet(a.Datasets),
			"lists_subjects": cedar.Boolean(a.ListsSubjects),
			"subjects":       cedar.Long(a.Subjects),
			"max_subjects":   cedar.Long(a.MaxSubjects),
			"active":         cedar.Boolean(a.Active),
		})
	}

	return cedar.Request{
		Principal: cedar.NewEntityUID("Analyst", cedar.String(r.Analyst)),
		Action:    action,
		Resource:  cedar.NewEntityUID("Tenant", cedar.String(r.Tenant)),
		Context:   cedar.NewRecord(ctx),
	}, nil
}

func stringSet(ss []string) cedar.Set {
	vs := make([]cedar.Value, len(ss))
	for i, s := range ss {
		vs[i] = cedar.String(s)
	}
	return cedar.NewSet(vs...)
}
