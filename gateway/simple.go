package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/analysis"
)

// simpleQuery serves a Query message. Every statement in the string is
// judged before any runs; one denial refuses the whole string, so a denied
// statement can never be smuggled in behind a lawful one. Then statements
// run in order: runs of backend statements as one Query (keeping
// PostgreSQL's implicit transaction), the gateway's own SET/SHOW/RESET
// custodes.authority in between.
func (s *session) simpleQuery(ctx context.Context, sql string) error {
	defer func() { s.skipping = false }()
	stmts, err := s.srv.analyses.analyze(sql, s.srv.cat)
	if err != nil {
		d := s.refuse(ctx, sql, "unknown", "AUP-9", "the statement could not be parsed: "+err.Error(), "check the SQL syntax")
		s.sendDenial(d, false)
		s.readyForQuery()
		return s.flush()
	}
	if len(stmts) == 0 {
		s.send(&pgproto3.EmptyQueryResponse{})
		s.readyForQuery()
		return s.flush()
	}

	verdicts := make([]*verdict, len(stmts))
	authority := s.authority
	for i, st := range stmts {
		v := s.judgeSimple(ctx, st, authority)
		if v.denial != nil {
			s.recordDenial(ctx, v, v.denial)
			s.sendDenial(v.denial, false)
			s.readyForQuery()
			return s.flush()
		}
		switch v.local {
		case localSetAuthority:
			authority = v.localValue
		case localResetAuthority:
			authority = ""
		}
		verdicts[i] = v
	}

	for i := 0; i < len(verdicts); {
		if verdicts[i].local != notLocal {
			if !s.runLocal(ctx, verdicts[i]) {
				break
			}
			i++
			continue
		}
		j := i
		texts := []string{}
		for j < len(verdicts) && verdicts[j].local == notLocal {
			texts = append(texts, verdicts[j].text)
			s.expect(opStatement, verdicts[j])
			j++
		}
		s.expect(opReady, nil)
		s.be.Send(&pgproto3.Query{String: strings.Join(texts, ";\n")})
		if err := s.beFlush(); err != nil {
			return err
		}
		if err := s.relay(ctx, true); err != nil {
			return err
		}
		if s.skipping {
			break // a statement failed: PostgreSQL runs no more of the string
		}
		s.afterRun(verdicts[i:j])
		i = j
		if i < len(verdicts) {
			// The run's last result waited for its ReadyForQuery
			// (complete): release it before the string goes on, so that
			// no more than one statement's result is ever held.
			if err := s.flush(); err != nil {
				return err
			}
		}
	}
	s.readyForQuery()
	return s.flush()
}

// judgeSimple judges a statement of a simple query, following SQL-level
// prepared statements and cursors to what they run.
func (s *session) judgeSimple(ctx context.Context, st *analysis.Statement, authority string) *verdict {
	eff, ok := s.effective(st)
	if !ok {
		v := &verdict{stmt: st, text: st.Text}
		v.denial = &denial{rules: ruleList(s.srv.cfg.Policy, "AUP-9"),
			reason: "it names a prepared statement or cursor not defined through custodes in this session",
			hint:   "PREPARE or DECLARE it in this session first"}
		return v
	}
	v := s.judge(ctx, eff, authority)
	v.orig = st
	return v
}

// effective is the statement whose facts decide st: EXECUTE and FETCH are
// judged as what they run, now, with the session's current authority. It
// reports false for a name the gateway does not know.
func (s *session) effective(st *analysis.Statement) (*analysis.Statement, bool) {
	var def *analysis.Statement
	switch {
	case st.Prepared != nil && st.Prepared.Execute:
		def = s.sqlPrep[st.Prepared.Name]
	case st.Cursor != "" && st.Class != analysis.ClassRead:
		// FETCH, MOVE, CLOSE: the cursor's query. CLOSE ALL names none.
		def = s.cursors[st.Cursor]
	default:
		return st, true
	}
	if def == nil {
		return nil, false
	}
	cp := *def
	cp.Text = st.Text
	return &cp, true
}

// remember keeps what a statement that completed on the backend defines
// (a prepared statement, a cursor), for judging its later uses. Only after
// the backend accepted it: a refused redefinition must not change what a
// name is judged as.
func (s *session) remember(st *analysis.Statement) {
	switch {
	case st.Prepared != nil && !st.Prepared.Execute:
		s.sqlPrep[st.Prepared.Name] = st
	case st.Cursor != "" && st.Class == analysis.ClassRead:
		s.cursors[st.Cursor] = st
	}
}

// afterRun applies what statements that ran change in the gateway's state.
func (s *session) afterRun(vs []*verdict) {
	for _, v := range vs {
		if set := v.stmt.Setting; set != nil && set.All && set.Reset {
			// RESET ALL resets custodes.authority too. If the scope cannot
			// be cleared, the session cannot be trusted: end it.
			if err := s.srv.cfg.Scope.ClearScope(context.Background(), s.backendPID); err != nil {
				s.close()
			}
			s.authority = ""
		}
	}
}

// runLocal answers the gateway's own statements. It reports false if a
// denial was sent.
func (s *session) runLocal(ctx context.Context, v *verdict) bool {
	switch v.local {
	case localShowAuthority:
		s.send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{
			Name: []byte(authoritySetting), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1,
		}}})
		s.send(&pgproto3.DataRow{Values: [][]byte{[]byte(s.authority)}})
		s.send(&pgproto3.CommandComplete{CommandTag: []byte("SHOW")})
		return true
	case localResetAuthority:
		if d := s.switchable(ctx, v); d != nil {
			s.sendDenial(d, false)
			return false
		}
		if err := s.srv.cfg.Scope.ClearScope(ctx, s.backendPID); err != nil {
			s.srv.log.Error("couldn't clear scope", "err", err)
			s.sendError("XX000", "custodes: the authority could not be reset; reconnect")
			return false
		}
		s.authority = ""
		s.send(&pgproto3.CommandComplete{CommandTag: []byte("RESET")})
		return true
	case localSetAuthority:
		// Checked again now: it may have been revoked since it was judged.
		if d := s.checkAuthority(ctx, v.localValue); d != nil {
			s.recordDenial(ctx, v, d)
			s.sendDenial(d, false)
			return false
		}
		if d := s.switchable(ctx, v); d != nil {
			s.sendDenial(d, false)
			return false
		}
		if d := s.bindScope(ctx, v.localValue); d != nil {
			s.recordDenial(ctx, v, d)
			s.sendDenial(d, false)
			return false
		}
		if _, err := s.recordAllowed(ctx, v, 0); err != nil {
			s.srv.log.Error("couldn't record SET custodes.authority", "err", err)
			s.sendDenial(&denial{rules: ruleList(s.srv.cfg.Policy, "AUP-9"), reason: "the decision could not be recorded in the transparency log", hint: "try again later"}, false)
			return false
		}
		s.authority = v.localValue
		s.send(&pgproto3.CommandComplete{CommandTag: []byte("SET")})
		return true
	}
	return false
}

// switchable checks the session may change authority now, and closes the
// backend's cursors first. Rows chosen under one authority must never be
// released under another: a transaction's snapshot or an open cursor
// (WITH HOLD cursors outlive their transaction) would carry them across.
func (s *session) switchable(ctx context.Context, v *verdict) *denial {
	if s.txStatus != 'I' {
		d := &denial{rules: ruleList(s.srv.cfg.Policy, "AUP-1"),
			reason: "the authority cannot change inside a transaction block",
			hint:   "COMMIT or ROLLBACK first, then SET custodes.authority"}
		s.recordDenial(ctx, v, d)
		return d
	}
	if err := s.backendExec(ctx, "CLOSE ALL"); err != nil {
		s.srv.log.Error("couldn't close cursors before an authority change", "err", err)
		d := &denial{rules: ruleList(s.srv.cfg.Policy, "AUP-9"), reason: "the session's cursors could not be closed before the authority changed", hint: "reconnect"}
		s.recordDenial(ctx, v, d)
		return d
	}
	clear(s.cursors)
	return nil
}

// backendExec runs a statement of the gateway's own on the backend, with
// nothing pending, and swallows its results.
func (s *session) backendExec(ctx context.Context, sql string) error {
	if len(s.pending) > 0 {
		return errors.New("gateway: backendExec with responses pending")
	}
	s.be.Send(&pgproto3.Query{String: sql})
	if err := s.beFlush(); err != nil {
		return err
	}
	var failed error
	for {
		msg, err := s.beReceive()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			failed = fmt.Errorf("%s: %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			s.txStatus = m.TxStatus
			return failed
		}
	}
}

// bindScope writes the database-enforced scope of authority id for this
// session's backend: its listed subjects, or every subject for a capped
// authority (the result guard counts those).
func (s *session) bindScope(ctx context.Context, id string) *denial {
	a, err := s.srv.cfg.State.Authority(ctx, id)
	if err == nil {
		subjects := make([]string, len(a.Subjects))
		for i, x := range a.Subjects {
			subjects[i] = strconv.FormatInt(x, 10)
		}
		err = s.srv.cfg.Scope.SetScope(ctx, s.backendPID, s.scopeKey, len(a.Subjects) == 0, subjects)
	}
	if err != nil {
		s.srv.log.Error("couldn't bind scope", "err", err)
		return &denial{rules: ruleList(s.srv.cfg.Policy, "AUP-9"), reason: "the authority's scope could not be put in force", hint: "try again later"}
	}
	return nil
}

// setAuthority binds an authority from the startup options. It returns the
// denial, recorded, if the authority cannot be bound.
func (s *session) setAuthority(ctx context.Context, id, text string) *denial {
	v := &verdict{text: text, local: localSetAuthority, localValue: id, stmt: &analysis.Statement{Class: analysis.ClassSet, Text: text}}
	if d := s.checkAuthority(ctx, id); d != nil {
		s.recordDenial(ctx, v, d)
		return d
	}
	if d := s.bindScope(ctx, id); d != nil {
		s.recordDenial(ctx, v, d)
		return d
	}
	if _, err := s.recordAllowed(ctx, v, 0); err != nil {
		return &denial{rules: ruleList(s.srv.cfg.Policy, "AUP-9"), reason: "the decision could not be recorded in the transparency log", hint: "try again later"}
	}
	s.authority = id
	return nil
}
