package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/scram"
)

// errHandled means the client has already been told what went wrong.
var errHandled = errors.New("handled")

// passThrough are the startup parameters a client may pass to the backend:
// presentation settings only. Anything else (options aside, handled below)
// is dropped, so no client can start a backend session with, say,
// row_security off.
var passThrough = map[string]bool{
	"application_name":   true,
	"client_encoding":    true,
	"datestyle":          true,
	"timezone":           true,
	"extra_float_digits": true,
	"intervalstyle":      true,
}

// startup performs the client's side of connection start-up: SSL/GSS
// negotiation (TLS when configured, GSS encryption refused), CancelRequest
// routing, protocol version negotiation, SCRAM authentication (with the
// lockout after repeated failures), and the backend connection. It returns
// nil, nil for a served CancelRequest.
func (s *Server) startup(ctx context.Context, conn net.Conn) (*session, error) {
	deadline := time.Now().Add(s.cfg.StartupTimeout)
	conn.SetDeadline(deadline)
	sess := &session{srv: s, client: conn}

	startup, err := s.negotiate(sess)
	if err != nil || startup == nil {
		return nil, err
	}
	conn = sess.client // the TLS connection, if TLS is up
	fe := pgproto3.NewBackend(conn, conn)
	fe.SetMaxBodyLen(authMaxMessage)
	sess.fe = fe
	if err := negotiateVersion(sess, startup); err != nil {
		return nil, err
	}

	params := map[string]string{}
	for k, v := range startup.Parameters {
		params[strings.ToLower(k)] = v
	}
	user := params["user"]
	database := params["database"]
	if database == "" {
		database = user
	}
	if s.front.require && !isTLS(conn) {
		sess.fatal("28000", "custodes: this gateway accepts only TLS connections", "connect with sslmode=require, or verify-full with the gateway's CA certificate")
		return nil, errHandled
	}
	if user == "" {
		sess.fatal("28000", "no PostgreSQL user name specified in startup packet", "")
		return nil, errHandled
	}
	if n := s.conns.Load(); n > int64(s.cfg.MaxSessions) {
		// Before authentication: a flood of connections costs no SCRAM
		// work and no backend connection.
		s.log.Warn("session refused: too many sessions", "remote", conn.RemoteAddr(), "open", n-1, "max", s.cfg.MaxSessions)
		sess.fatal("53300", fmt.Sprintf("custodes: sorry, too many sessions already (%d)", s.cfg.MaxSessions), "try again later")
		return nil, errHandled
	}
	if r, ok := params["replication"]; ok && !slices.Contains([]string{"false", "off", "no", "0"}, strings.ToLower(r)) {
		sess.fatal("42501", "custodes: replication connections are not available", "")
		return nil, errHandled
	}

	analyst, known := s.cfg.Analysts[user]
	var v *scram.Verifier
	if known {
		v = analyst.Verifier
	}
	if err := s.authenticate(ctx, sess, user, v, analyst.Unit); err != nil {
		return nil, err
	}
	sess.analyst = user
	sess.unit = analyst.Unit
	sess.pseudonym = s.cfg.State.Pseudonym(s.cfg.Tenant, user)

	if database != s.cfg.Backend.Database {
		sess.fatal("3D000", fmt.Sprintf("database %q does not exist", database), "connect to database "+s.cfg.Backend.Database)
		return nil, errHandled
	}

	initialAuthority, err := parseOptions(params["options"])
	if err != nil {
		sess.fatal("42501", "custodes: "+err.Error(), "only -c custodes.authority=ID may be given in options")
		return nil, errHandled
	}

	// The operator's start-up parameters from backend.url stay (options=-c
	// statement_timeout=… bounds a stalled backend); the client's
	// pass-through ones are laid over them, as PostgreSQL would.
	bcfg := s.cfg.Backend.Copy()
	if bcfg.RuntimeParams == nil {
		bcfg.RuntimeParams = map[string]string{}
	}
	for k, v := range params {
		if passThrough[k] {
			bcfg.RuntimeParams[k] = v
		}
	}
	bcfg.RuntimeParams["application_name"] = "custodes:" + sess.pseudonym
	// A fresh key per backend connection, written beside its scope: the
	// row-level security policies match the scope row of this pid only with
	// it (see package setup).
	sess.scopeKey = rand.Text()
	bcfg.RuntimeParams[scopeKeySetting] = sess.scopeKey
	// The backend connect is bounded by the start-up deadline too: a
	// backend that accepts and never answers must not hold the client.
	bctx, cancel := context.WithDeadline(ctx, deadline)
	pgc, err := pgconn.ConnectConfig(bctx, bcfg)
	cancel()
	if err != nil {
		s.log.Warn("couldn't connect to backend", "err", err)
		conn.SetDeadline(time.Now().Add(time.Second)) // room to say so
		sess.fatal("08006", "custodes: the database is not reachable; try again later", "")
		return nil, errHandled
	}
	hj, err := pgc.Hijack()
	if err != nil {
		pgc.Close(ctx)
		sess.fatal("08006", "custodes: the database is not reachable; try again later", "")
		return nil, errHandled
	}
	sess.backend = hj.Conn
	sess.be = hj.Frontend
	// No backend message larger than a result may be held is ever read
	// whole: per-session memory stays bounded by HoldLimit.
	sess.be.SetMaxBodyLen(s.cfg.HoldLimit)
	sess.backendPID = hj.PID
	sess.backendKey = hj.SecretKey
	sess.txStatus = 'I'

	sess.send(&pgproto3.AuthenticationOk{})
	for k, v := range hj.ParameterStatuses {
		if k == "application_name" {
			v = params["application_name"]
		}
		sess.send(&pgproto3.ParameterStatus{Name: k, Value: v})
	}
	if initialAuthority != "" {
		if d := sess.setAuthority(ctx, initialAuthority, "options: -c custodes.authority="+initialAuthority); d != nil {
			sess.sendDenial(d, true)
			sess.flush()
			sess.close()
			return nil, errHandled
		}
	}
	conn.SetDeadline(time.Time{})
	fe.SetMaxBodyLen(s.cfg.MaxMessage)
	return sess, nil
}

// parseOptions reads the startup packet's options, as PGOPTIONS sends them:
// "-c name=value" or "--name=value", separated by spaces, with backslash
// escaping spaces. custodes.authority is the only option accepted.
func parseOptions(opts string) (authority string, err error) {
	var words []string
	var cur strings.Builder
	escaped := false
	for _, r := range opts {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == ' ' || r == '\t':
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		var setting string
		switch {
		case w == "-c" && i+1 < len(words):
			i++
			setting = words[i]
		case strings.HasPrefix(w, "-c") && len(w) > 2:
			setting = w[2:]
		case strings.HasPrefix(w, "--"):
			setting = w[2:]
		default:
			return "", fmt.Errorf("startup option %q is not allowed", w)
		}
		name, value, ok := strings.Cut(setting, "=")
		if !ok || strings.ToLower(name) != "custodes.authority" {
			return "", fmt.Errorf("startup option %q is not allowed", name)
		}
		authority = value
	}
	return authority, nil
}

func (s *Server) recordLoginFailure(ctx context.Context, user, unit string) {
	e := &record.Entry{
		Kind:    record.KindLoginFailure,
		Time:    now(),
		Tenant:  s.cfg.Tenant,
		Unit:    unit,
		Analyst: s.cfg.State.Pseudonym(s.cfg.Tenant, user),
		Policy:  s.cfg.Policy.Hash(),
	}
	if _, err := s.appendEntry(ctx, e, nil); err != nil {
		s.log.Error("couldn't record login failure", "err", err)
	}
}
