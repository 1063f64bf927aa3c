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
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	xscram "github.com/xdg-go/scram"
)

// Mechanism is the SASL mechanism always offered; no cleartext or MD5, ever.
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

// ErrProtocol wraps a client's breach of the SASL exchange: a message other
// than the one expected (a cleartext PasswordMessage, say), or a mechanism
// that was not offered. The caller should answer FATAL 08P01.
var ErrProtocol = errors.New("SASL protocol violation")

// MechanismPlus is SCRAM-SHA-256 with tls-server-end-point channel binding,
// offered beside Mechanism over TLS only.
const MechanismPlus = "SCRAM-SHA-256-PLUS"

// Options are the optional parts of an exchange.
type Options struct {
	// DecoySalt is the salt of the decoy an unknown user is answered with.
	// It should be derived from the user name under a secret key, so that
	// two attempts for one unknown user see the same salt, as they would
	// for a real one; 16 bytes, the length Hash uses. Nil draws a random
	// salt, which lets a client that connects twice tell an unknown user
	// from a known one.
	DecoySalt []byte
	// Refuse runs the exchange as usual, against v's own salt and
	// iterations, but fails it whatever the proof: for a lockout that
	// must look exactly like a wrong password.
	Refuse bool
	// ServerCertificate is the leaf certificate the connection's TLS
	// server presented, nil in the clear. With it, SCRAM-SHA-256-PLUS is
	// offered too, bound to the certificate (RFC 5929 tls-server-end-point,
	// as PostgreSQL binds), and a client that says it supports channel
	// binding but chose SCRAM-SHA-256 is refused (a downgrade). A
	// certificate signed with Ed25519 has no such binding: then only
	// SCRAM-SHA-256 is offered.
	ServerCertificate *x509.Certificate
}

// Authenticate runs the SASL exchange on be, whose client has sent its
// StartupMessage. v nil means an unknown user: the exchange runs anyway
// against a decoy verifier, so that an unknown user and a wrong password
// cannot be told apart, and fails. On success AuthenticationSASLFinal has been
// flushed but AuthenticationOk has not been sent yet (the caller sends it once the backend side is ready). The error
// is ErrFailed for a bad proof, wraps ErrProtocol for a client that broke
// the exchange, or is an I/O error.
//
// Only SCRAM-SHA-256 (and, over TLS, SCRAM-SHA-256-PLUS) is ever offered:
// never cleartext passwords or MD5.
func Authenticate(be *pgproto3.Backend, v *Verifier) error {
	return AuthenticateWith(be, v, Options{})
}

// AuthenticateWith is Authenticate with options.
func AuthenticateWith(be *pgproto3.Backend, v *Verifier, o Options) error {
	creds := decoy(o.DecoySalt)
	if v != nil {
		creds = v.creds
	}
	// PostgreSQL ignores the user name inside SCRAM (libpq sends it empty):
	// the StartupMessage's user is the one being authenticated.
	srv, err := xscram.SHA256.NewServer(func(string) (xscram.StoredCredentials, error) { return creds, nil })
	if err != nil {
		return err
	}
	mechanisms := []string{Mechanism}
	var binding xscram.ChannelBinding
	bound := false
	if o.ServerCertificate != nil {
		// A certificate with no binding hash (Ed25519) is served without
		// SCRAM-SHA-256-PLUS, as PostgreSQL does.
		if binding, err = endpointBinding(o.ServerCertificate); err == nil {
			bound = true
			// PostgreSQL's order: the channel-bound mechanism first.
			mechanisms = []string{MechanismPlus, Mechanism}
		}
	}

	be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: mechanisms})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return err
	}
	msg, err := be.Receive()
	if err != nil {
		return receiveError(err)
	}
	initial, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		return fmt.Errorf("%w: expected SASLInitialResponse, got %T", ErrProtocol, msg)
	}
	var conv *xscram.ServerConversation
	switch {
	case initial.AuthMechanism == Mechanism && bound:
		// Bound conversation state without requiring binding: it refuses
		// the gs2 flag "y" (client could bind, thought we could not).
		conv = srv.NewConversationWithChannelBinding(binding)
	case initial.AuthMechanism == Mechanism:
		conv = srv.NewConversation()
	case initial.AuthMechanism == MechanismPlus && bound:
		conv = srv.NewConversationWithChannelBindingRequired(binding)
	default:
		return fmt.Errorf("%w: client selected SASL mechanism %s, which was not offered (offered: %s)",
			ErrProtocol, quote(initial.AuthMechanism), strings.Join(mechanisms, ", "))
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
		return receiveError(err)
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return fmt.Errorf("%w: expected SASLResponse, got %T", ErrProtocol, msg)
	}
	serverFinal, err := conv.Step(string(resp.Data))
	if err != nil || !conv.Valid() || v == nil || o.Refuse {
		return ErrFailed
	}
	be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(serverFinal)})
	return be.Flush()
}

// quote quotes a client's string for an error message, cut short.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}

// receiveError tells a malformed message (a protocol violation) from an
// I/O error.
func receiveError(err error) error {
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ne) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrProtocol, err)
}

// endpointBinding is the tls-server-end-point channel binding of cert
// (RFC 5929 section 4.1): its hash under the hash of its signature
// algorithm, SHA-256 in place of MD5 and SHA-1.
func endpointBinding(cert *x509.Certificate) (xscram.ChannelBinding, error) {
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New()
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256:
		h = sha256.New()
	default:
		// Ed25519 has no hash of its own: RFC 5929 leaves it undefined.
		return xscram.ChannelBinding{}, fmt.Errorf("scram: no tls-server-end-point hash for a certificate signed with %v", cert.SignatureAlgorithm)
	}
	h.Write(cert.Raw)
	return xscram.ChannelBinding{Type: xscram.ChannelBindingTLSServerEndpoint, Data: h.Sum(nil)}, nil
}

// decoy returns credentials no password matches, with salt (or a random
// one).
func decoy(salt []byte) xscram.StoredCredentials {
	keys := make([]byte, 64)
	rand.Read(keys)
	if len(salt) == 0 {
		salt = make([]byte, 16)
		rand.Read(salt)
	}
	return xscram.StoredCredentials{
		KeyFactors: xscram.KeyFactors{Salt: string(salt), Iters: iterations},
		StoredKey:  keys[:32],
		ServerKey:  keys[32:],
	}
}
