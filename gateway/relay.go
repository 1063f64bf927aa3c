package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

type opKind int

const (
	opParse opKind = iota
	opBind
	opDescribeStmt
	opDescribePortal
	opClose
	opStatement // a simple-query statement or an Execute: rows, then a completion
	opReady     // a Sync or the end of a simple Query: ReadyForQuery
	// opDescribeGuard is a Describe of the portal the gateway sends before
	// every Execute, for the result guard: its response goes to the guard
	// of the Execute that follows it, never to the client.
	opDescribeGuard
)

// op is one operation sent to the backend whose response is awaited.
type op struct {
	kind opKind
	v    *verdict // opStatement: what was judged, for the entry
	// mark is len(out) when the statement's output began: on a stop,
	// everything from mark on is withdrawn.
	mark    int
	rows    int64
	held    int
	stopped *denial // the result was stopped; send this instead
	g       guard
	// tokens and subjects are what the result guard counted, for the entry.
	tokens   []string
	subjects int64
	seen     time.Time // when the result's subjects were counted (coverage)
}

func (s *session) expect(kind opKind, v *verdict) {
	s.pending = append(s.pending, &op{kind: kind, v: v, mark: -1})
}

// relay reads the backend's responses to pending operations until the
// oldest opReady is answered (untilReady) or nothing is pending. It relays
// what may be relayed into out, records each statement's entry when the
// statement completes and only then releases its rows.
func (s *session) relay(ctx context.Context, untilReady bool) error {
	defer s.watchHangup()()
	for len(s.pending) > 0 {
		if !untilReady && s.hasReady() {
			return fmt.Errorf("gateway: relay without ready while a sync is pending")
		}
		msg, err := s.beReceive()
		if err != nil {
			if head := s.pending[0]; errors.Is(err, errMessageTooLarge) && head.kind == opStatement {
				// Stopped and recorded like any result past the hold
				// limit; then the session ends (see errMessageTooLarge).
				if head.stopped == nil {
					head.stopped = s.stopHeld(ctx, head, fmt.Sprintf("a row of the result is larger than %d MiB; results are held until they are recorded", s.srv.cfg.HoldLimit>>20))
				}
				s.complete(ctx, head, nil)
				s.flush()
			}
			return err
		}
		head := s.pending[0]
		switch m := msg.(type) {
		case *pgproto3.NoticeResponse:
			// A notice's text can carry data (a cast's error quotes the
			// value): during a person-level statement it is dropped.
			if !s.suppress && !(head.v != nil && head.v.personLevel) {
				s.send(m)
			}
			continue
		case *pgproto3.ParameterStatus, *pgproto3.NotificationResponse:
			// Asynchronous: relayed in order, carry no rows.
			if !s.suppress {
				s.send(m.(pgproto3.BackendMessage))
			}
			continue
		case *pgproto3.CopyInResponse, *pgproto3.CopyOutResponse, *pgproto3.CopyBothResponse, *pgproto3.CopyData:
			return errProtocol
		case *pgproto3.ReadyForQuery:
			s.txStatus = m.TxStatus
			s.dropUntilReady()
			if len(s.pending) == 0 || s.pending[0].kind != opReady {
				return fmt.Errorf("gateway: unexpected ReadyForQuery")
			}
			s.pending = s.pending[1:]
			s.suppress = false
			return nil
		case *pgproto3.ErrorResponse:
			if head.kind == opDescribeGuard {
				head = s.pending[1] // the error is the Execute's: the portal is bad
				s.pop()
			}
			if head.kind == opStatement && head.v != nil && head.v.personLevel {
				m = scrub(m)
			}
			if head.kind == opStatement {
				if err := s.complete(ctx, head, m); err != nil {
					return err
				}
			} else if !s.suppress {
				s.send(m)
			}
			// After an error the backend skips to the next Sync, and so
			// must the client.
			s.dropUntilReady()
			s.skipping = true
			if !untilReady {
				return nil
			}
			continue
		}

		if head.kind == opReady {
			return fmt.Errorf("gateway: unexpected %T before ReadyForQuery", msg)
		}
		switch m := msg.(type) {
		case *pgproto3.ParseComplete, *pgproto3.BindComplete, *pgproto3.CloseComplete:
			s.pop()
			if !s.suppress {
				s.send(m.(pgproto3.BackendMessage))
			}
		case *pgproto3.ParameterDescription:
			if !s.suppress {
				s.send(m)
			}
		case *pgproto3.RowDescription:
			switch head.kind {
			case opDescribeGuard:
				s.pending[1].g.describe(s.srv.cat, m)
				s.pop()
				continue
			case opDescribeStmt, opDescribePortal:
				s.pop()
			case opStatement:
				s.begin(head)
				head.g.describe(s.srv.cat, m)
			}
			if !s.suppress {
				s.send(m)
			}
		case *pgproto3.NoData:
			s.pop()
			if head.kind == opDescribeGuard {
				s.pending[0].g.described = true
				continue
			}
			if !s.suppress {
				s.send(m)
			}
		case *pgproto3.DataRow:
			if head.kind != opStatement {
				return fmt.Errorf("gateway: row outside a statement")
			}
			s.begin(head)
			head.rows++
			if head.stopped != nil || s.suppress {
				continue
			}
			head.g.row(m.Values)
			if lim := head.v.limit(); lim >= 0 && head.g.count() > lim {
				// Past the authority's scope: the policy decides, now, before
				// any more is held.
				if d := s.judgeResult(ctx, head, false); d != nil {
					head.stopped = d
					s.out = s.out[:head.mark]
					s.cancelBackend()
					continue
				}
			}
			head.held += len(m.Values)*4 + valuesLen(m.Values)
			if head.held > s.srv.cfg.HoldLimit {
				head.stopped = s.stopHeld(ctx, head, fmt.Sprintf("the result passed %d MiB before it completed; results are held until they are recorded", s.srv.cfg.HoldLimit>>20))
				continue
			}
			s.send(m)
		case *pgproto3.CommandComplete, *pgproto3.EmptyQueryResponse, *pgproto3.PortalSuspended:
			if head.kind != opStatement {
				return fmt.Errorf("gateway: completion outside a statement")
			}
			if err := s.complete(ctx, head, m.(pgproto3.BackendMessage)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("gateway: unexpected backend message %T", msg)
		}
	}
	return nil
}

func valuesLen(vs [][]byte) int {
	n := 0
	for _, v := range vs {
		n += len(v)
	}
	return n
}

// begin marks where a statement's output starts in out, on its first message.
func (s *session) begin(o *op) {
	if o.mark < 0 {
		o.mark = len(s.out)
	}
}

func (s *session) hasReady() bool {
	for _, o := range s.pending {
		if o.kind == opReady {
			return true
		}
	}
	return false
}

func (s *session) pop() { s.pending = s.pending[1:] }

// dropUntilReady forgets operations the backend will skip after an error.
func (s *session) dropUntilReady() {
	for len(s.pending) > 0 && s.pending[0].kind != opReady {
		s.pending = s.pending[1:]
	}
}

// stopHeld withdraws a statement's held rows and cancels it on the backend.
func (s *session) stopHeld(ctx context.Context, o *op, reason string) *denial {
	s.out = s.out[:o.mark]
	// Synchronously: a late cancel could hit the session's next query.
	s.cancelBackend()
	return &denial{rules: ruleList(s.srv.cfg.Policy, "AUP-9"), reason: reason, hint: "narrow the query to the subjects of your authority"}
}

// complete ends a statement: it records the entry, and releases the held
// output only once the entry is durable. If the entry cannot be recorded,
// the held rows are withdrawn and the client gets a denial instead.
func (s *session) complete(ctx context.Context, o *op, end pgproto3.BackendMessage) error {
	s.begin(o)
	s.pop()
	if s.suppress {
		return nil
	}
	if o.stopped != nil {
		s.out = s.out[:o.mark]
		s.recordDenialCounted(ctx, o, o.stopped)
		s.sendDenial(o.stopped, false)
		// The backend's own outcome (often "canceling statement") is not
		// the client's business.
		s.suppress = true
		return nil
	}
	if cc, ok := end.(*pgproto3.CommandComplete); ok && o.v != nil && o.v.personLevel && bytes.HasPrefix(cc.CommandTag, []byte("MOVE ")) {
		// MOVE returns no rows but its tag counts them: a count of
		// people, released without any row to guard.
		d := &denial{rules: ruleList(s.srv.cfg.Policy, "AUP-7"), reason: "MOVE over person-level data reports how many rows it skipped: a count without rows", hint: "FETCH the rows you need"}
		s.out = s.out[:o.mark]
		s.recordDenialCounted(ctx, o, d)
		s.sendDenial(d, false)
		s.suppress = true
		return nil
	}
	if o.v != nil && o.v.personLevel {
		if d := s.judgeResult(ctx, o, true); d != nil {
			s.out = s.out[:o.mark]
			s.recordDenialCounted(ctx, o, d)
			s.sendDenial(d, false)
			s.suppress = true
			return nil
		}
	}
	if _, err := s.recordAllowedCounted(ctx, o); err != nil {
		s.out = s.out[:o.mark]
		d := &denial{rules: ruleList(s.srv.cfg.Policy, "AUP-9"), reason: "the decision could not be recorded in the transparency log", hint: "try again later; nothing was released", unrecorded: true}
		s.srv.log.Error("couldn't record statement", "err", err)
		s.sendDenial(d, false)
		s.suppress = true
		return nil
	}
	if _, failed := end.(*pgproto3.ErrorResponse); !failed && o.v != nil && o.v.orig != nil {
		s.remember(o.v.orig)
	}
	s.send(end)
	if len(s.pending) > 0 && s.pending[0].kind == opReady {
		// The backend's ReadyForQuery follows at once, and what ends the
		// batch flushes it: one write, and one wake-up of the client, per
		// batch instead of two. Should the backend fail before it, the
		// session drops what is queued (run): this statement's rows are
		// on the record but never released, and the client is told only
		// that the connection was lost — never a result and then an error.
		return nil
	}
	return s.flush()
}

// scrub reduces a backend error of a person-level statement to its code:
// error text quotes values ("invalid input syntax for type integer: <every
// name, joined>"), so it is a channel for exactly the data the guard
// withholds. The SQLSTATE and the class of failure are enough to debug a
// targeted query; the full text is in no public place.
func scrub(m *pgproto3.ErrorResponse) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            m.Severity,
		SeverityUnlocalized: m.SeverityUnlocalized,
		Code:                m.Code,
		Message:             fmt.Sprintf("custodes: the statement failed in the database (SQLSTATE %s); the database's message is withheld because it can quote person-level data", m.Code),
	}
}
