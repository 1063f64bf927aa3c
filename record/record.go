package record

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxSize is the largest encoded entry: C2SP tlog-tiles bundles an entry
// behind a 16-bit length, so 64 KiB minus one byte.
const MaxSize = 1<<16 - 1

// header is the first line of every format v1 entry.
const header = "custodes/entry/v1"

// timeLayout is the only time syntax: UTC, microseconds, four-digit year.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Kind says what an entry records.
type Kind string

// The kinds of entry: a statement decision, a failed login, and the
// administrative events that change what statements may do.
const (
	KindStatement          Kind = "statement"
	KindLoginFailure       Kind = "login_failure"
	KindAuthorityIssued    Kind = "authority_issued"
	KindAuthorityRevoked   Kind = "authority_revoked"
	KindPolicyPublished    Kind = "policy_published"
	KindSuspension         Kind = "suspension"
	KindResumption         Kind = "resumption"
	KindStorageAttestation Kind = "storage_attestation"
	KindAlert              Kind = "alert"
)

var kinds = map[Kind]bool{
	KindStatement: true, KindLoginFailure: true, KindAuthorityIssued: true,
	KindAuthorityRevoked: true, KindPolicyPublished: true, KindSuspension: true,
	KindResumption: true, KindStorageAttestation: true, KindAlert: true,
}

var authorityKinds = map[string]bool{
	"judicial_warrant": true, "court_order": true, "subpoena": true, "administrative": true,
}

// Entry is one public log entry. The zero value of an optional field is
// encoded as an empty value; empty lists parse as nil.
type Entry struct {
	Kind          Kind
	Time          time.Time // encoded in UTC; must have microsecond precision
	Tenant        string
	Unit          string // may be empty
	Analyst       string // pseudonym (opaque token), may be empty
	AuthorityKind string // judicial_warrant, court_order, subpoena, administrative, or empty
	Authority     string // hex commitment to the authority id, or empty
	Class         string // statement class (read, write, ddl, copy_out, set, ...) or empty
	Datasets      []string
	Decision      string   // "allow" or "deny"; required for KindStatement
	Rules         []string // rule ids, e.g. AUP-3
	Rows          uint64
	Subjects      uint64   // distinct subjects in the result
	SubjectTokens []string // keyed pseudonymous subject tokens
	Policy        string   // policy version or hash, or empty
	Detail        [32]byte // SHA-256 of the sealed detail record; zero if none
	Attrs         []Attr   // kind-specific public attributes, strictly sorted by Key
}

// Attr is a kind-specific public attribute, such as {"reason", "..."} for a
// suspension. Key is a name; Value is free text (see the package doc).
type Attr struct{ Key, Value string }

// Marshal validates e and returns its format v1 encoding. The error names
// the first invalid field.
func (e *Entry) Marshal() ([]byte, error) {
	if !kinds[e.Kind] {
		return nil, fieldErr("kind", string(e.Kind), errors.New("unknown kind"))
	}
	t := e.Time.UTC()
	if t.IsZero() || t.Year() < 1 || t.Year() > 9999 {
		return nil, fieldErr("time", e.Time.String(), errors.New("must be a year from 0001 to 9999"))
	}
	if t.Nanosecond()%1000 != 0 {
		// Rather than truncate silently, which would make the log say
		// something other than the caller's value.
		return nil, fieldErr("time", e.Time.String(), errors.New("must have microsecond precision (use Truncate(time.Microsecond))"))
	}
	if err := checkName(e.Tenant); err != nil {
		return nil, fieldErr("tenant", e.Tenant, err)
	}
	if err := optional(e.Unit, checkName); err != nil {
		return nil, fieldErr("unit", e.Unit, err)
	}
	if err := optional(e.Analyst, checkToken); err != nil {
		return nil, fieldErr("analyst", e.Analyst, err)
	}
	if e.AuthorityKind != "" && !authorityKinds[e.AuthorityKind] {
		return nil, fieldErr("authority-kind", e.AuthorityKind, errors.New("unknown authority kind"))
	}
	if err := optional(e.Authority, checkHash); err != nil {
		return nil, fieldErr("authority", e.Authority, err)
	}
	if err := optional(e.Class, checkName); err != nil {
		return nil, fieldErr("class", e.Class, err)
	}
	if err := checkList(e.Datasets, checkToken); err != nil {
		return nil, fieldErr("datasets", strings.Join(e.Datasets, ","), err)
	}
	if err := checkDecision(e.Kind, e.Decision); err != nil {
		return nil, fieldErr("decision", e.Decision, err)
	}
	if err := checkList(e.Rules, checkName); err != nil {
		return nil, fieldErr("rules", strings.Join(e.Rules, ","), err)
	}
	if err := checkList(e.SubjectTokens, checkToken); err != nil {
		return nil, fieldErr("subject-tokens", strings.Join(e.SubjectTokens, ","), err)
	}
	if err := optional(e.Policy, checkToken); err != nil {
		return nil, fieldErr("policy", e.Policy, err)
	}
	for i, a := range e.Attrs {
		if err := checkName(a.Key); err != nil {
			return nil, fieldErr("attr", a.Key, err)
		}
		if i > 0 && a.Key <= e.Attrs[i-1].Key {
			return nil, fieldErr("attr", a.Key, errors.New("attributes must be strictly sorted by key"))
		}
		if err := checkText(a.Value); err != nil {
			return nil, fieldErr("attr "+a.Key, a.Value, err)
		}
	}

	b := make([]byte, 0, 512)
	b = append(b, header...)
	b = append(b, '\n')
	line := func(key, value string) {
		b = append(b, key...)
		if value != "" {
			b = append(b, ' ')
			b = append(b, value...)
		}
		b = append(b, '\n')
	}
	line("kind", string(e.Kind))
	line("time", t.Format(timeLayout))
	line("tenant", e.Tenant)
	line("unit", e.Unit)
	line("analyst", e.Analyst)
	line("authority-kind", e.AuthorityKind)
	line("authority", e.Authority)
	line("class", e.Class)
	line("datasets", strings.Join(e.Datasets, ","))
	line("decision", e.Decision)
	line("rules", strings.Join(e.Rules, ","))
	line("rows", strconv.FormatUint(e.Rows, 10))
	line("subjects", strconv.FormatUint(e.Subjects, 10))
	line("subject-tokens", strings.Join(e.SubjectTokens, ","))
	line("policy", e.Policy)
	if e.Detail == ([32]byte{}) {
		line("detail", "")
	} else {
		line("detail", hex.EncodeToString(e.Detail[:]))
	}
	for _, a := range e.Attrs {
		b = append(b, "attr "...)
		b = append(b, a.Key...)
		if a.Value != "" {
			b = append(b, ' ')
			b = appendText(b, a.Value)
		}
		b = append(b, '\n')
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("record: entry is %d bytes, more than the %d allowed", len(b), MaxSize)
	}
	return b, nil
}

func optional(s string, check func(string) error) error {
	if s == "" {
		return nil
	}
	return check(s)
}

func checkDecision(k Kind, d string) error {
	switch d {
	case "allow", "deny":
		return nil
	case "":
		if k == KindStatement {
			return errors.New("a statement entry needs allow or deny")
		}
		return nil
	}
	return errors.New("must be allow, deny or empty")
}

func fieldErr(field, value string, err error) error {
	if len(value) > 80 {
		value = value[:80] + "..."
	}
	return fmt.Errorf("record: invalid %s %q: %w", field, value, err)
}

// keys are the lines after the header, in their only order.
var keys = [...]string{
	"kind", "time", "tenant", "unit", "analyst", "authority-kind", "authority",
	"class", "datasets", "decision", "rules", "rows", "subjects",
	"subject-tokens", "policy", "detail",
}

// Parse decodes a format v1 entry, accepting exactly the encodings Marshal
// produces.
func Parse(b []byte) (*Entry, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("record: entry is %d bytes, more than the %d allowed", len(b), MaxSize)
	}
	for i, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\n' {
			return nil, fmt.Errorf("record: byte %d is %#02x; only printable ASCII and newline are allowed", i, c)
		}
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, errors.New("record: entry must end with a newline")
	}
	lines := strings.Split(string(b[:len(b)-1]), "\n")
	if lines[0] != header {
		return nil, fmt.Errorf("record: line 1: got %q, want %q", trim(lines[0]), header)
	}
	if len(lines) < 1+len(keys) {
		return nil, fmt.Errorf("record: %d lines, want at least %d", len(lines), 1+len(keys))
	}
	var v [len(keys)]string
	for i, key := range keys {
		l := lines[1+i]
		val, ok := strings.CutPrefix(l, key)
		switch {
		case ok && val == "":
		case ok && len(val) > 1 && val[0] == ' ':
			val = val[1:]
		default:
			return nil, fmt.Errorf("record: line %d: got %q, want key %q and a value, or the key alone", 2+i, trim(l), key)
		}
		v[i] = val
	}

	e := &Entry{Kind: Kind(v[0]), Tenant: v[2], Unit: v[3], Analyst: v[4],
		AuthorityKind: v[5], Authority: v[6], Class: v[7], Decision: v[9], Policy: v[14]}
	var err error
	if e.Time, err = time.Parse(timeLayout, v[1]); err != nil {
		return nil, fieldErr("time", v[1], errors.New("must be YYYY-MM-DDTHH:MM:SS.ffffffZ"))
	}
	if e.Datasets, err = parseList(v[8], checkToken); err != nil {
		return nil, fieldErr("datasets", v[8], err)
	}
	if e.Rules, err = parseList(v[10], checkName); err != nil {
		return nil, fieldErr("rules", v[10], err)
	}
	if e.Rows, err = parseNumber(v[11]); err != nil {
		return nil, fieldErr("rows", v[11], err)
	}
	if e.Subjects, err = parseNumber(v[12]); err != nil {
		return nil, fieldErr("subjects", v[12], err)
	}
	if e.SubjectTokens, err = parseList(v[13], checkToken); err != nil {
		return nil, fieldErr("subject-tokens", v[13], err)
	}
	if v[15] != "" {
		if err := checkHash(v[15]); err != nil {
			return nil, fieldErr("detail", v[15], err)
		}
		_, _ = hex.Decode(e.Detail[:], []byte(v[15])) // checked by checkHash
	}
	for n, l := range lines[1+len(keys):] {
		rest, ok := strings.CutPrefix(l, "attr ")
		if !ok {
			return nil, fmt.Errorf("record: line %d: got %q, want an attr line or the end", 2+len(keys)+n, trim(l))
		}
		key, val, hasVal := strings.Cut(rest, " ")
		if hasVal && val == "" {
			return nil, fieldErr("attr "+key, val, errors.New("an empty value is written without the space"))
		}
		if e.Attrs == nil {
			e.Attrs = make([]Attr, 0, len(lines)-1-len(keys))
		}
		var text string
		if text, err = parseText(val); err != nil {
			return nil, fieldErr("attr "+key, val, err)
		}
		e.Attrs = append(e.Attrs, Attr{Key: key, Value: text})
	}

	// The remaining checks (kind, names, hashes, order, sizes) are Marshal's:
	// one validator, and a guarantee that b is the only encoding of e.
	m, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(m, b) {
		return nil, errors.New("record: entry is not in canonical form")
	}
	return e, nil
}

// trim shortens a line for an error message.
func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
