// Package authority is the signed form of an authority: the legal basis an
// approver issues for person-level reads, and its revocation.
//
// An approver signs an authority as a signed note (C2SP signed-note,
// golang.org/x/mod/sumdb/note, Ed25519) whose text is the canonical
// statement below; the gateway honours an authority only while the note
// verifies against an approver key registered in the config and its text
// equals the stored authority, field for field. The note's key name is the
// approver's name.
//
// The statement text, byte for byte (every line ends in "\n", fields in
// this order, no other lines):
//
//	custodes/authority/v1
//	id <id>                    1–64 of A-Z a-z 0-9 . _ -
//	kind <kind>                judicial_warrant | court_order | subpoena | administrative
//	reference <text>           1–200 printable ASCII characters (the docket number)
//	tenant <name>
//	unit <name>
//	datasets <list>            "*" or schema.table names, comma-separated, sorted
//	subjects <list>            decimal subject ids, comma-separated, ascending; empty when capped
//	max-subjects <n>           decimal; 0 when subjects are listed
//	not-before <time>          RFC 3339, UTC, seconds ("2026-01-01T00:00:00Z")
//	not-after <time>
//
// A revocation is the same kind of note with the text:
//
//	custodes/revocation/v1
//	id <id>
//	reason <text>              1–2000 printable ASCII characters
package authority

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Statement is what an approver signs.
type Statement struct {
	ID, Kind, Reference, Tenant, Unit string
	Datasets                          []string
	Subjects                          []int64
	MaxSubjects                       int64
	NotBefore, NotAfter               time.Time
}

// Kinds are the authority kinds.
var Kinds = []string{"judicial_warrant", "court_order", "subpoena", "administrative"}

const (
	header    = "custodes/authority/v1"
	revHeader = "custodes/revocation/v1"
	maxNote   = 64 << 10
)

var (
	idRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	datasetRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$`)
	textRE    = regexp.MustCompile(`^[\x20-\x7e]+$`)
)

// Check validates s.
func (s *Statement) Check() error {
	switch {
	case !idRE.MatchString(s.ID):
		return fmt.Errorf("authority id %q must be 1–64 of A-Z a-z 0-9 . _ -", s.ID)
	case !slices.Contains(Kinds, s.Kind):
		return fmt.Errorf("authority kind %q must be one of %s", s.Kind, strings.Join(Kinds, ", "))
	case len(s.Reference) == 0 || len(s.Reference) > 200 || !textRE.MatchString(s.Reference):
		return errors.New("the reference must be 1–200 printable ASCII characters")
	case !nameRE.MatchString(s.Tenant) || !nameRE.MatchString(s.Unit):
		return errors.New("tenant and unit must be lower-case names")
	case len(s.Datasets) == 0:
		return errors.New("an authority must name its datasets (or * for all)")
	case (len(s.Subjects) > 0) == (s.MaxSubjects > 0):
		return errors.New("an authority lists its subjects or caps them with max-subjects, exactly one of the two")
	case s.MaxSubjects < 0:
		return errors.New("max-subjects must not be negative")
	case !s.NotAfter.After(s.NotBefore):
		return errors.New("not-after must be later than not-before")
	}
	for _, d := range s.Datasets {
		if d != "*" && !datasetRE.MatchString(d) {
			return fmt.Errorf("dataset %q must be schema.table or *", d)
		}
	}
	if slices.Contains(s.Datasets, "*") && len(s.Datasets) > 1 {
		return errors.New("* covers every dataset and stands alone")
	}
	return nil
}

// Text is the canonical statement text.
func (s *Statement) Text() (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	ds := slices.Clone(s.Datasets)
	slices.Sort(ds)
	subs := slices.Clone(s.Subjects)
	slices.Sort(subs)
	subs = slices.Compact(subs)
	ss := make([]string, len(subs))
	for i, x := range subs {
		ss[i] = strconv.FormatInt(x, 10)
	}
	var b strings.Builder
	line := func(k, v string) { b.WriteString(k + " " + v + "\n") }
	b.WriteString(header + "\n")
	line("id", s.ID)
	line("kind", s.Kind)
	line("reference", s.Reference)
	line("tenant", s.Tenant)
	line("unit", s.Unit)
	line("datasets", strings.Join(ds, ","))
	line("subjects", strings.Join(ss, ","))
	line("max-subjects", strconv.FormatInt(s.MaxSubjects, 10))
	line("not-before", s.NotBefore.UTC().Truncate(time.Second).Format(time.RFC3339))
	line("not-after", s.NotAfter.UTC().Truncate(time.Second).Format(time.RFC3339))
	return strings.ReplaceAll(b.String(), "subjects \n", "subjects\n"), nil
}

// Parse reads a canonical statement text strictly: it must re-encode to
// exactly the same bytes.
func Parse(text string) (*Statement, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	keys := []string{"id", "kind", "reference", "tenant", "unit", "datasets", "subjects", "max-subjects", "not-before", "not-after"}
	if !strings.HasSuffix(text, "\n") || len(lines) != len(keys)+1 || lines[0] != header {
		return nil, errors.New("not a custodes/authority/v1 statement")
	}
	v := map[string]string{}
	for i, k := range keys {
		l := lines[i+1]
		if l == k {
			v[k] = ""
			continue
		}
		val, ok := strings.CutPrefix(l, k+" ")
		if !ok {
			return nil, fmt.Errorf("line %d: want %q", i+2, k)
		}
		v[k] = val
	}
	s := &Statement{ID: v["id"], Kind: v["kind"], Reference: v["reference"], Tenant: v["tenant"], Unit: v["unit"]}
	s.Datasets = strings.Split(v["datasets"], ",")
	if v["subjects"] != "" {
		for _, x := range strings.Split(v["subjects"], ",") {
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("subject %q is not a number", x)
			}
			s.Subjects = append(s.Subjects, n)
		}
	}
	var err error
	if s.MaxSubjects, err = strconv.ParseInt(v["max-subjects"], 10, 64); err != nil {
		return nil, errors.New("max-subjects is not a number")
	}
	if s.NotBefore, err = time.Parse(time.RFC3339, v["not-before"]); err != nil {
		return nil, errors.New("not-before is not an RFC 3339 time")
	}
	if s.NotAfter, err = time.Parse(time.RFC3339, v["not-after"]); err != nil {
		return nil, errors.New("not-after is not an RFC 3339 time")
	}
	again, err := s.Text()
	if err != nil {
		return nil, err
	}
	if again != text {
		return nil, errors.New("the statement is not in canonical form")
	}
	return s, nil
}

// Sign signs s as an approver.
func Sign(s *Statement, approver note.Signer) ([]byte, error) {
	text, err := s.Text()
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: text}, approver)
}

// Verify opens a signed authority with the registered approvers' keys and
// returns the statement and the approver's name.
func Verify(signed []byte, approvers note.Verifiers) (*Statement, string, error) {
	if len(signed) > maxNote {
		return nil, "", errors.New("the signed authority is too large")
	}
	n, err := note.Open(signed, approvers)
	if err != nil {
		return nil, "", fmt.Errorf("the authority's signature does not verify against a registered approver: %w", err)
	}
	s, err := Parse(n.Text)
	if err != nil {
		return nil, "", err
	}
	return s, n.Sigs[0].Name, nil
}

// Revocation is a signed withdrawal of an authority.
type Revocation struct{ ID, Reason string }

// SignRevocation signs a revocation as an approver.
func SignRevocation(r *Revocation, approver note.Signer) ([]byte, error) {
	if !idRE.MatchString(r.ID) {
		return nil, fmt.Errorf("authority id %q is not valid", r.ID)
	}
	if len(r.Reason) == 0 || len(r.Reason) > 2000 || !textRE.MatchString(r.Reason) {
		return nil, errors.New("the reason must be 1–2000 printable ASCII characters")
	}
	return note.Sign(&note.Note{Text: revHeader + "\nid " + r.ID + "\nreason " + r.Reason + "\n"}, approver)
}

// VerifyRevocation opens a signed revocation.
func VerifyRevocation(signed []byte, approvers note.Verifiers) (*Revocation, string, error) {
	if len(signed) > maxNote {
		return nil, "", errors.New("the signed revocation is too large")
	}
	n, err := note.Open(signed, approvers)
	if err != nil {
		return nil, "", fmt.Errorf("the revocation's signature does not verify against a registered approver: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) != 3 || lines[0] != revHeader || !strings.HasPrefix(lines[1], "id ") || !strings.HasPrefix(lines[2], "reason ") {
		return nil, "", errors.New("not a custodes/revocation/v1 statement")
	}
	r := &Revocation{ID: lines[1][3:], Reason: lines[2][7:]}
	if !idRE.MatchString(r.ID) || !textRE.MatchString(r.Reason) {
		return nil, "", errors.New("the revocation's fields are not valid")
	}
	return r, n.Sigs[0].Name, nil
}

// Verifiers builds the note verifiers of registered approver keys (note
// vkeys, as `custodes keygen --origin NAME` prints them).
func Verifiers(vkeys []string) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, k := range vkeys {
		v, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("approver key %q: %w", k, err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), nil
}
