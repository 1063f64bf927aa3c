package policy

import (
	"fmt"
	"sync"

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

// scratch holds the maps a request is built in. cedar.NewRecord copies its
// map, so they are reused: this is on every statement's path.
type scratch struct {
	ctx, coverage, authority                     cedar.RecordMap
	names, unregistered, personLevel, categories []cedar.Value
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		ctx:       make(cedar.RecordMap, 20),
		coverage:  make(cedar.RecordMap, 4),
		authority: make(cedar.RecordMap, 8),
	}
}}

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

	s := scratchPool.Get().(*scratch)
	defer func() {
		clear(s.ctx)
		clear(s.coverage)
		clear(s.authority)
		s.names, s.unregistered = s.names[:0], s.unregistered[:0]
		s.personLevel, s.categories = s.personLevel[:0], s.categories[:0]
		scratchPool.Put(s)
	}()

	for _, d := range r.Datasets {
		name := cedar.Value(cedar.String(d.Name))
		s.names = append(s.names, name)
		if !d.Registered {
			s.unregistered = append(s.unregistered, name)
		}
		if d.PersonLevel {
			s.personLevel = append(s.personLevel, name)
		}
		if d.Category != "" {
			s.categories = append(s.categories, cedar.String(d.Category))
		}
	}

	c := s.ctx
	c["tenant"] = cedar.String(r.Tenant)
	c["unit"] = cedar.String(r.Unit)
	c["analyst"] = cedar.String(r.Analyst)
	c["suspended"] = cedar.Boolean(r.Suspended)
	c["class"] = cedar.String(r.Class)
	c["unjudged"] = stringSet(r.Unjudged)
	c["datasets"] = valueSet(s.names)
	c["unregistered"] = valueSet(s.unregistered)
	c["person_level"] = valueSet(s.personLevel)
	c["categories"] = valueSet(s.categories)
	c["protected_columns"] = stringSet(r.ProtectedColumns)
	c["whole_row"] = cedar.Boolean(r.WholeRow)
	c["subject_predicate"] = cedar.Boolean(r.SubjectPredicate)
	c["place_or_time_predicate"] = cedar.Boolean(r.PlaceOrTimePredicate)
	c["hazards"] = stringSet(r.Hazards)
	c["result_subjects"] = cedar.Long(r.ResultSubjects)

	s.coverage["unit_subjects"] = cedar.Long(r.Coverage.UnitSubjects)
	s.coverage["unit_cap"] = cedar.Long(r.Coverage.UnitCap)
	s.coverage["tenant_subjects"] = cedar.Long(r.Coverage.TenantSubjects)
	s.coverage["tenant_cap"] = cedar.Long(r.Coverage.TenantCap)
	c["coverage"] = cedar.NewRecord(s.coverage)

	if a := r.Authority; a != nil {
		s.authority["id"] = cedar.String(a.ID)
		s.authority["kind"] = cedar.String(a.Kind)
		s.authority["unit"] = cedar.String(a.Unit)
		s.authority["datasets"] = stringSet(a.Datasets)
		s.authority["lists_subjects"] = cedar.Boolean(a.ListsSubjects)
		s.authority["subjects"] = cedar.Long(a.Subjects)
		s.authority["max_subjects"] = cedar.Long(a.MaxSubjects)
		s.authority["active"] = cedar.Boolean(a.Active)
		c["authority"] = cedar.NewRecord(s.authority)
	}

	return cedar.Request{
		Principal: cedar.NewEntityUID("Analyst", cedar.String(r.Analyst)),
		Action:    action,
		Resource:  cedar.NewEntityUID("Tenant", cedar.String(r.Tenant)),
		Context:   cedar.NewRecord(c),
	}, nil
}

// emptySet is shared and boxed once: most requests have no hazards, no
// protected columns, nothing unjudged.
var emptySet cedar.Value = cedar.NewSet()

func valueSet(vs []cedar.Value) cedar.Value {
	if len(vs) == 0 {
		return emptySet
	}
	return cedar.NewSet(vs...)
}

func stringSet(ss []string) cedar.Value {
	if len(ss) == 0 {
		return emptySet
	}
	vs := make([]cedar.Value, len(ss))
	for i, s := range ss {
		vs[i] = cedar.String(s)
	}
	return cedar.NewSet(vs...)
}
