package gateway

import (
	"bytes"
	"context"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/analysis"
)

// The extended query protocol. Messages are judged as they arrive and
// forwarded to the backend as they are; responses are read at Sync and
// Flush (and before anything the gateway answers itself, so that responses
// stay in order). Execute is the statement decision: it is judged with the
// session's state at that moment and recorded when it completes.

// localStmt marks an extended-protocol statement the gateway answers.
func isLocal(st *analysis.Statement) bool {
	return st != nil && st.Setting != nil && strings.EqualFold(st.Setting.Name, authoritySetting)
}

func (s *session) parse(ctx context.Context, m *pgproto3.Parse) error {
	query := strings.Clone(m.Query)
	stmts, err := s.srv.analyses.analyze(query, s.srv.cat)
	if err != nil {
		return s.denyInBatch(ctx, s.refuse(ctx, query, "unknown", "AUP-9", "the statement could not be parsed: "+err.Error(), "check the SQL syntax"))
	}
	if len(stmts) > 1 {
		s.drain(ctx)
		s.sendError("42601", "cannot insert multiple commands into a prepared statement")
		s.skipping = true
		return nil
	}
	var st *analysis.Statement
	if len(stmts) == 1 {
		st = stmts[0]
	} else {
		st = &analysis.Statement{Class: analysis.ClassEmpty}
	}
	if isLocal(st) {
		if err := s.drain(ctx); err != nil {
			return err
		}
		s.stmts[m.Name] = st
		s.send(&pgproto3.ParseComplete{})
		return nil
	}
	// Judged now for an early, clear error; judged again at Execute.
	if len(stmts) == 1 {
		if v := s.judgeSimple(ctx, st, s.authority); v.denial != nil {
			return s.denyVerdict(ctx, v)
		}
	}
	s.stmts[m.Name] = st
	s.be.Send(m)
	s.expect(opParse, nil)
	return nil
}

func (s *session) bind(ctx context.Context, m *pgproto3.Bind) error {
	st, ok := s.stmts[m.PreparedStatement]
	if !ok {
		// The backend will answer that it does not exist; the portal is
		// unknown to the gateway, so its Execute is denied.
		s.be.Send(m)
		s.expect(opBind, nil)
		delete(s.portals, m.DestinationPortal)
		return nil
	}
	params := make([][]byte, len(m.Parameters))
	for i, p := range m.Parameters {
		params[i] = bytes.Clone(p)
	}
	s.portals[m.DestinationPortal] = &portal{stmt: st, params: params}
	if isLocal(st) {
		if err := s.drain(ctx); err != nil {
			return err
		}
		s.send(&pgproto3.BindComplete{})
		return nil
	}
	s.be.Send(m)
	s.expect(opBind, nil)
	return nil
}

func (s *session) describe(ctx context.Context, m *pgproto3.Describe) error {
	var st *analysis.Statement
	if m.ObjectType == 'S' {
		st = s.stmts[m.Name]
	} else if p := s.portals[m.Name]; p != nil {
		st = p.stmt
	}
	if isLocal(st) {
		if err := s.drain(ctx); err != nil {
			return err
		}
		if m.ObjectType == 'S' {
			s.send(&pgproto3.ParameterDescription{})
		}
		if st.Class == analysis.ClassShow {
			s.send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{
				Name: []byte(authoritySetting), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1,
			}}})
		} else {
			s.send(&pgproto3.NoData{})
		}
		return nil
	}
	s.be.Send(m)
	if m.ObjectType == 'S' {
		s.expect(opDescribeStmt, nil)
	} else {
		s.expect(opDescribePortal, nil)
	}
	return nil
}

func (s *session) execute(ctx context.Context, m *pgproto3.Execute) error {
	p := s.portals[m.Portal]
	if p == nil {
		return s.denyInBatch(ctx, s.refuse(ctx, "", "unknown", "AUP-9", "the portal "+quoteName(m.Portal)+" was not bound through custodes", "bind a statement parsed in this session"))
	}
	if isLocal(p.stmt) {
		if err := s.drain(ctx); err != nil {
			return err
		}
		v := s.judge(ctx, p.stmt, s.authority)
		if v.denial != nil {
			s.recordDenial(ctx, v, v.denial)
			s.sendDenial(v.denial, false)
			s.skipping = true
			return nil
		}
		if !s.runLocal(ctx, v) {
			s.skipping = true
		}
		return nil
	}
	v := s.judgeSimple(ctx, p.stmt, s.authority)
	v.params = p.params
	if v.denial != nil {
		return s.denyVerdict(ctx, v)
	}
	// Describe the portal first, for the result guard: the row
	// description, with the formats Bind chose, says which columns are
	// subject keys.
	s.be.Send(&pgproto3.Describe{ObjectType: 'P', Name: m.Portal})
	s.expect(opDescribeGuard, nil)
	s.be.Send(m)
	s.expect(opStatement, v)
	return nil
}

func (s *session) closeObject(ctx context.Context, m *pgproto3.Close) error {
	var st *analysis.Statement
	if m.ObjectType == 'S' {
		st = s.stmts[m.Name]
		delete(s.stmts, m.Name)
	} else {
		if p := s.portals[m.Name]; p != nil {
			st = p.stmt
		}
		delete(s.portals, m.Name)
	}
	if isLocal(st) {
		if err := s.drain(ctx); err != nil {
			return err
		}
		s.send(&pgproto3.CloseComplete{})
		return nil
	}
	s.be.Send(m)
	s.expect(opClose, nil)
	return nil
}

// sync ends a batch: the backend's responses are relayed up to its
// ReadyForQuery, then the client gets its own.
func (s *session) sync(ctx context.Context) error {
	s.skipping = false
	s.be.Send(&pgproto3.Sync{})
	s.expect(opReady, nil)
	if err := s.beFlush(); err != nil {
		return err
	}
	if err := s.relay(ctx, true); err != nil {
		return err
	}
	s.skipping = false
	s.readyForQuery()
	return s.flush()
}

// flushBatch serves the client's Flush: everything answered so far is sent.
func (s *session) flushBatch(ctx context.Context) error {
	if err := s.drain(ctx); err != nil {
		return err
	}
	return s.flush()
}

// drain makes the backend answer everything pending, so the gateway can
// answer the next message itself in order.
func (s *session) drain(ctx context.Context) error {
	if len(s.pending) == 0 {
		return nil
	}
	s.be.Send(&pgproto3.Flush{})
	if err := s.beFlush(); err != nil {
		return err
	}
	return s.relay(ctx, false)
}

// denyVerdict records and sends a judged denial inside a batch.
func (s *session) denyVerdict(ctx context.Context, v *verdict) error {
	if err := s.drain(ctx); err != nil {
		return err
	}
	s.recordDenial(ctx, v, v.denial)
	s.sendDenial(v.denial, false)
	s.skipping = true
	return nil
}

// denyInBatch sends an already recorded denial inside a batch; the client's
// messages are then ignored until Sync, as after any error.
func (s *session) denyInBatch(ctx context.Context, d *denial) error {
	if err := s.drain(ctx); err != nil {
		return err
	}
	s.sendDenial(d, false)
	s.skipping = true
	return nil
}

func quoteName(n string) string {
	if n == "" {
		return "(unnamed)"
	}
	return `"` + n + `"`
}
