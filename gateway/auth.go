package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/custodes/custodes/scram"
)

// authenticate runs the SCRAM exchange for user (v nil: no such analyst)
// and answers a failure. Every failure looks the same to the client —
// FATAL 28P01, "password authentication failed" — whether the user does
// not exist, the password is wrong or the name or address is locked out:
// during a lockout the exchange runs as usual against the analyst's own
// verifier (same salt, same iterations) and fails whatever the password.
//
// A failed proof is recorded as a login_failure entry in the log, logged
// (never a password: SCRAM never sends one) and counted towards the
// lockout. A client that breaks off the exchange, as psql does to prompt
// for a password, has failed nothing.
func (s *Server) authenticate(ctx context.Context, sess *session, user string, v *scram.Verifier, unit string) error {
	addr := clientAddress(sess.client.RemoteAddr())
	name := user // for the operator's log: cut short, as a client chose it
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	opts := scram.Options{DecoySalt: s.decoySalt(user)}
	if isTLS(sess.client) {
		opts.ServerCertificate = s.front.leaf
	}
	held, locked := s.front.logins.locked(user, addr)
	opts.Refuse = locked

	err := scram.AuthenticateWith(sess.fe, v, opts)
	switch {
	case err == nil:
		s.front.logins.succeed(user)
		return nil
	case errors.Is(err, scram.ErrFailed) && locked:
		// Not recorded in the log: a locked-out attempt could not have
		// succeeded, and a guesser must not be able to fill the log.
		s.log.Warn("login refused: locked out after repeated failures", "user", name, "remote", addr,
			"locked", held.what, "until", held.until.UTC().Format("2006-01-02T15:04:05Z"))
	case errors.Is(err, scram.ErrFailed):
		s.recordLoginFailure(ctx, user, unit)
		s.log.Warn("login failed", "user", name, "remote", addr, "known", v != nil)
		for _, l := range s.front.logins.fail(user, addr) {
			s.log.Warn("login locked out after repeated failures", "user", name, "remote", addr,
				"locked", l.what, "until", l.until.UTC().Format("2006-01-02T15:04:05Z"))
		}
	case errors.Is(err, scram.ErrProtocol):
		s.log.Info("login failed: SASL protocol violation", "user", name, "remote", addr, "err", err)
		sess.fatal("08P01", "custodes: "+err.Error(), "the gateway accepts SCRAM-SHA-256 password authentication only")
		return errHandled
	default:
		return err
	}
	sess.fatal("28P01", fmt.Sprintf("password authentication failed for user %q", user), "")
	return errHandled
}

// decoySalt is the salt an unknown user's exchange shows: stable per name
// and keyed, as a real verifier's salt is stable, so two attempts cannot
// tell an unknown name from a known one. It is derived from the keyed
// pseudonym of a name no analyst can have (a startup packet cannot carry a
// NUL byte), which never appears in the log.
func (s *Server) decoySalt(user string) []byte {
	h := sha256.Sum256([]byte("custodes scram decoy salt\x00" + s.cfg.State.Pseudonym(s.cfg.Tenant, "\x00scram-decoy\x00"+user)))
	return h[:16]
}
