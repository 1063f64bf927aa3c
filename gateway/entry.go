package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/record"
)

// detail is the sealed detail record of a statement entry: what the public
// entry must not show. The entry commits to the SHA-256 of its JSON; the
// nonce makes the commitment hiding even for guessable SQL. The JSON is
// sealed to the overseers (package seal) before it is stored, so only they
// can read it.
type detail struct {
	V         int      `json:"v"`
	Nonce     string   `json:"nonce"`
	Time      string   `json:"time"`
	Analyst   string   `json:"analyst"`
	Authority string   `json:"authority,omitempty"`
	SQL       string   `json:"sql"`
	Params    []string `json:"params,omitempty"`
	Subjects  []string `json:"subjects,omitempty"`
}

type entryT = record.Entry

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// appendEntry appends the entry with its private part (the sealed detail,
// and the coverage of tokens) journaled beside it, durable in the same
// fdatasync, and returns its index. So no entry exists without its detail,
// and no row is released before the unit's coverage of it is durable; the
// control database receives both behind the journal (control.Private).
func (srv *Server) appendEntry(ctx context.Context, e *record.Entry, det *detail, tokens ...string) (uint64, error) {
	var side []byte
	if det != nil {
		nonce := make([]byte, 16)
		rand.Read(nonce)
		det.V = 1
		det.Nonce = hex.EncodeToString(nonce)
		det.Time = e.Time.Format(time.RFC3339Nano)
		body, err := json.Marshal(det)
		if err != nil {
			return 0, err
		}
		e.Detail = sha256.Sum256(body)
		sealed, err := srv.cfg.Seal(body)
		if err != nil {
			return 0, err
		}
		p := &control.Private{Commitment: e.Detail, Sealed: sealed, Tenant: e.Tenant, Unit: e.Unit, Tokens: tokens, Seen: e.Time}
		if side, err = p.Marshal(); err != nil {
			return 0, fmt.Errorf("couldn't encode private record: %w", err)
		}
	}
	b, err := e.Marshal()
	if err != nil {
		return 0, fmt.Errorf("couldn't encode entry: %w", err)
	}
	start := time.Now()
	idx, err := srv.cfg.Log.AppendWith(ctx, b, side)
	if err != nil {
		return 0, fmt.Errorf("couldn't append entry: %w", err)
	}
	if e.Kind == record.KindStatement {
		srv.counted(e.Decision, e.Rules, start)
	}
	return idx, nil
}

// statementEntry is the public entry for a judged statement.
func (s *session) statementEntry(v *verdict, decision string, rules []string) (*record.Entry, *detail) {
	cfg := &s.srv.cfg
	e := &record.Entry{
		Kind:     record.KindStatement,
		Time:     now(),
		Tenant:   cfg.Tenant,
		Unit:     s.unit,
		Analyst:  s.pseudonym,
		Class:    "unknown",
		Datasets: v.datasets,
		Decision: decision,
		Rules:    rules,
		Policy:   cfg.Policy.Hash(),
	}
	det := &detail{Analyst: s.analyst, SQL: v.text}
	if v.stmt != nil {
		e.Class = string(v.stmt.Class)
	}
	if v.authority != nil {
		e.AuthorityKind = v.authority.Kind
		e.Authority = cfg.State.AuthorityCommitment(v.authority.ID)
		det.Authority = v.authority.ID
	} else if v.local == localSetAuthority {
		det.Authority = v.localValue
	}
	for _, p := range v.params {
		det.Params = append(det.Params, string(p))
	}
	return e, det
}

// recordAllowed records an allowed statement that ran, with its row count.
func (s *session) recordAllowed(ctx context.Context, v *verdict, rows int64) (uint64, error) {
	e, det := s.statementEntry(v, "allow", nil)
	e.Rows = uint64(rows)
	return s.srv.appendEntry(ctx, e, det)
}

// recordDenial records a denied statement and fills in d's index. A failure
// to record still denies: the client is told the entry is missing.
func (s *session) recordDenial(ctx context.Context, v *verdict, d *denial) {
	ids := make([]string, len(d.rules))
	for i, r := range d.rules {
		ids[i] = r.ID
	}
	if v == nil {
		v = &verdict{}
	}
	e, det := s.statementEntry(v, "deny", ids)
	idx, err := s.srv.appendEntry(ctx, e, det)
	if err != nil {
		s.srv.log.Error("couldn't record denial", "err", err)
		d.unrecorded = true
		return
	}
	d.index, d.recorded = idx, true
}

// sendDenial queues the 42501 error for d, in the shape DESIGN.md fixes:
//
//	ERROR:  custodes: denied by AUP-3 (bulk result): 37 distinct subjects exceed …
//	DETAIL:  recorded as entry 1234 of log demo.custodes/agency
//	HINT:  ask an approver for an authority that names these subjects
func (s *session) sendDenial(d *denial, fatal bool) {
	sev := "ERROR"
	if fatal {
		sev = "FATAL"
	}
	rule := d.rules[0]
	ids := make([]string, len(d.rules))
	for i, r := range d.rules {
		ids[i] = r.ID
	}
	head := "custodes: denied by " + rule.ID
	if rule.Title != "" {
		head += " (" + rule.Title + ")"
	}
	detailText := fmt.Sprintf("recorded as entry %d of log %s", d.index, s.srv.cfg.Log.Origin())
	if !d.recorded {
		detailText = "the transparency log is unavailable, so nothing is served"
	}
	if len(ids) > 1 {
		detailText += "; the statement also breaks " + strings.Join(ids[1:], ", ")
	}
	s.send(&pgproto3.ErrorResponse{
		Severity: sev, SeverityUnlocalized: sev, Code: "42501",
		Message: head + ": " + d.reason,
		Detail:  detailText,
		Hint:    d.hint,
	})
}

// refuse records and returns a denial for something refused before any
// analysis (a fast-path call, an unparseable string).
func (s *session) refuse(ctx context.Context, text, class, rule, reason, hint string) *denial {
	d := &denial{rules: ruleList(s.srv.cfg.Policy, rule), reason: reason, hint: hint}
	v := &verdict{text: text}
	e, det := s.statementEntry(v, "deny", []string{rule})
	e.Class = class
	if idx, err := s.srv.appendEntry(ctx, e, det); err != nil {
		s.srv.log.Error("couldn't record denial", "err", err)
	} else {
		d.index, d.recorded = idx, true
	}
	return d
}
