// Package scram authenticates analysts with SCRAM-SHA-256 (RFC 7677) over
// the PostgreSQL wire protocol, against verifiers in PostgreSQL's own format.
//
// The cryptography is github.com/xdg-go/scram's; this package only speaks
// PostgreSQL's framing of it (AuthenticationSASL, SASLInitialResponse,
// AuthenticationSASLContinue, SASLResponse, AuthenticationSASLFinal) and
// reads and writes the verifier strings custodes.yaml stores:
//
//	SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
//
// which is the format of pg_authid.rolpassword, so an operator can copy a
// verifier from PostgreSQL or from `custodes keygen --password`.
package scram

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	xscram "github.com/xdg-go/scram"
)

// Mechanism is the only SASL mechanism offered; no cleartext or MD5.
const Mechanism = "SCRAM-SHA-256"

// iterations matches PostgreSQL's default scram_iterations.
const iterations = 4096

// Verifier is a parsed SCRAM-SHA-256 verifier.
type Verifier struct{ creds xscram.StoredCredentials }

// Hash derives a verifier for password with a fresh random salt.
func Hash(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	client, err := xscram.SHA256.NewClient("", password, "")
	if err != nil {
		return "", fmt.Errorf("couldn't prepare password: %w", err)
	}
	c, err := client.GetStoredCredentialsWithError(xscram.KeyFactors{Salt: string(salt), Iters: iterations})
	if err != nil {
		return "", fmt.Errorf("couldn't derive verifier: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("%s$%d:%s$%s:%s", Mechanism, iterations, b64(salt), b64(c.StoredKey), b64(c.ServerKey)), nil
}

// ParseVerifier parses a verifier string.
func ParseVerifier(s string) (*Verifier, error) {
	bad := errors.New("not a SCRAM-SHA-256 verifier (SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey)")
	rest, ok := strings.CutPrefix(s, Mechanism+"$")
	if !ok {
		return nil, bad
	}
	factors, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, bad
	}
	itersText, saltText, ok1 := strings.Cut(factors, ":")
	storedText, serverText, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return nil, bad
	}
	iters, err := strconv.Atoi(itersText)
	if err != nil || iters < 1 || iters > 1<<24 {
		return nil, bad
	}
	dec := base64.StdEncoding.DecodeString
	salt, err1 := dec(saltText)
	stored, err2 := dec(storedText)
	server, err3 := dec(serverText)
	if err1 != nil || err2 != nil || err3 != nil || len(salt) == 0 || len(stored) != 32 || len(server) != 32 {
		return nil, bad
	}
	return &Verifier{xscram.StoredCredentials{
		KeyFactors: xscram.KeyFactors{Salt: string(salt), Iters: iters},
		StoredKey:  stored,
		ServerKey:  server,
	}}, nil
}

// ErrFailed means the client did not prove knowledge of the password.
var ErrFailed = errors.New("password authentication failed")

// Authenticate runs the SASL exchange on be, whose client has sent its
// StartupMessage. v nil means an unknown user: the exchange runs anyway
// against a random verifier, so that an unknown user and a wrong password
// cannot be told apart, and fails. On success AuthenticationSASLFinal has been
// flushed but AuthenticationOk has not been sent yet (the caller sends it once the backend side is ready). The error
// is ErrFailed for a bad proof, or a protocol error.
func Authenticate(be *pgproto3.Backend, v *Verifier) error {
	creds := decoy()
	if v != nil {
		creds = v.creds
	}
	// PostgreSQL ignores the user name inside SCRAM (libpq sends it empty):
	// the StartupMessage's user is the one being authenticated.
	srv, err := xscram.SHA256.NewServer(func(string) (xscram.StoredCredentials, error) { return creds, nil })
	if err != nil {
		return err
	}
	conv := srv.NewConversation()

	be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{Mechanism}})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return err
	}
	msg, err := be.Receive()
	if err != nil {
		return err
	}
	initial, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		return fmt.Errorf("expected SASLInitialResponse, got %T", msg)
	}
	if initial.AuthMechanism != Mechanism {
		return fmt.Errorf("unsupported SASL mechanism %q", initial.AuthMechanism)
	}
	serverFirst, err := conv.Step(string(initial.Data))
	if err != nil {
		return ErrFailed
	}
	be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		return err
	}
	msg, err = be.Receive()
	if err != nil {
		return err
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return fmt.Errorf("expected SASLResponse, got %T", msg)
	}
	serverFinal, err := conv.Step(string(resp.Data))
	if err != nil || !conv.Valid() || v == nil {
		return ErrFailed
	}
	be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(serverFinal)})
	return be.Flush()
}

// decoy returns fresh random credentials no password matches.
func decoy() xscram.StoredCredentials {
	b := make([]byte, 80)
	rand.Read(b)
	return xscram.StoredCredentials{
		KeyFactors: xscram.KeyFactors{Salt: string(b[:16]), Iters: iterations},
		StoredKey:  b[16:48],
		ServerKey:  b[48:80],
	}
}
