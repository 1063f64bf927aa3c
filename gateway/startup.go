package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// startup performs the client's side of connection start-up: optional
// SSL/GSS negotiation (refused), CancelRequest routing, SCRAM
// authentication, and the backend connection. It returns nil, nil for a
// served CancelRequest.
func (s *Server) startup(ctx context.Context, conn net.Conn) (*session, error) {
	conn.SetDeadline(time.Now().Add(s.cfg.StartupTimeout))
	fe := pgproto3.NewBackend(conn, conn)
	sess := &session{srv: s, client: conn, fe: fe}

	var startup *pgproto3.StartupMessage
	for startup == nil {
		msg, err := fe.ReceiveStartupMessage()
		if err != nil {
			return nil, fmt.Errorf("couldn't read startup message: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			// TLS is not configured: say so with 'N', as PostgreSQL does.
			if _, err := conn.Write([]byte{'N'}); err != nil {
				return nil, err
			}
		case *pgproto3.CancelRequest:
			s.cancel(m.ProcessID, m.SecretKey)
			return nil, nil
		case *pgproto3.StartupMessage:
			startup = m
		default:
			return nil, fmt.Errorf("unexpected startup message %T", msg)
		}
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

	analyst, known := s.cfg.Analysts[user]
	var v *scram.Verifier
	if known {
		v = analyst.Verifier
	}
	if err := scram.Authenticate(fe, v); err != nil {
		if errors.Is(err, scram.ErrFailed) {
			s.recordLoginFailure(ctx, user, analyst.Unit)
			sess.fatal("28P01", fmt.Sprintf("password authentication failed for user %q", user), "")
			return nil, errHandled
		}
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

	bcfg := s.cfg.Backend.Copy()
	bcfg.RuntimeParams = map[string]string{}
	for k, v := range params {
		if passThrough[k] {
			bcfg.RuntimeParams[k] = v
		}
	}
	bcfg.RuntimeParams["application_name"] = "custodes:" + sess.pseudonym
	pgc, err := pgconn.ConnectConfig(ctx, bcfg)
	if err != nil {
		s.log.Warn("couldn't connect to backend", "err", err)
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
