package scram

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// serve answers one pgconn client over a pipe with Authenticate.
func serve(t *testing.T, v *Verifier, password string) (serverErr, clientErr error) {
	return serveWith(t, v, password, Options{})
}

func serveWith(t *testing.T, v *Verifier, password string, o Options) (serverErr, clientErr error) {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan error, 1)
	go func() {
		defer srv.Close()
		be := pgproto3.NewBackend(srv, srv)
		if _, err := be.ReceiveStartupMessage(); err != nil {
			done <- err
			return
		}
		err := AuthenticateWith(be, v, o)
		if err == nil {
			be.Send(&pgproto3.AuthenticationOk{})
			be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			be.Flush()
		} else {
			be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: "password authentication failed"})
			be.Flush()
		}
		done <- err
	}()
	cfg, err := pgconn.ParseConfig("postgres://alice:" + password + "@127.0.0.1:1/agency?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DialFunc = func(context.Context, string, string) (net.Conn, error) { return cli, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, cerr := pgconn.ConnectConfig(ctx, cfg)
	if cerr == nil {
		conn.Close(ctx)
	}
	return <-done, cerr
}

func TestAuthenticate(t *testing.T) {
	s, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "SCRAM-SHA-256$4096:") {
		t.Fatalf("verifier %q", s)
	}
	v, err := ParseVerifier(s)
	if err != nil {
		t.Fatal(err)
	}
	if serr, cerr := serve(t, v, "correct%20horse"); serr != nil || cerr != nil {
		t.Fatalf("right password: server %v, client %v", serr, cerr)
	}
	if serr, cerr := serve(t, v, "wrong"); !errors.Is(serr, ErrFailed) || cerr == nil {
		t.Fatalf("wrong password: server %v, client %v", serr, cerr)
	}
	// Unknown user: the exchange runs and fails the same way.
	if serr, cerr := serve(t, nil, "correct%20horse"); !errors.Is(serr, ErrFailed) || cerr == nil {
		t.Fatalf("unknown user: server %v, client %v", serr, cerr)
	}
}

func TestParseVerifier(t *testing.T) {
	// The shape of pg_authid.rolpassword (base64 salt and 32-byte keys).
	pg := "SCRAM-SHA-256$4096:yX9m4vOC9T0pq7Q4nYzTfA==$9XCD1d5D4MFAn8zvdO6Bh8RYrRCsNYUkmw10ZynWcH4=:v3+Jw3fbbhJb1M1ovl16AFQgCCn1Dsl2QlDIj2/BwAQ="
	if _, err := ParseVerifier(pg); err != nil {
		t.Fatalf("PostgreSQL's format: %v", err)
	}
	for _, bad := range []string{"", "md5abc", "SCRAM-SHA-256$x:salt$a:b", "SCRAM-SHA-256$4096:c2FsdA==$YQ==:YQ==", "SCRAM-SHA-256$4096:c2FsdA=="} {
		if _, err := ParseVerifier(bad); err == nil {
			t.Errorf("ParseVerifier(%q) succeeded", bad)
		}
	}
}

func TestRefuse(t *testing.T) {
	s, _ := Hash("pw")
	v, _ := ParseVerifier(s)
	if serr, cerr := serveWith(t, v, "pw", Options{Refuse: true}); !errors.Is(serr, ErrFailed) || cerr == nil {
		t.Fatalf("Refuse with the right password: server %v, client %v", serr, cerr)
	}
}

// exchange drives the server by hand: it returns the mechanisms offered
// and the server's answer to a first message, or its error.
func exchange(t *testing.T, o Options, answer pgproto3.FrontendMessage) (offered []string, err error) {
	t.Helper()
	cli, srv := net.Pipe()
	defer cli.Close()
	done := make(chan error, 1)
	go func() {
		defer srv.Close()
		done <- AuthenticateWith(pgproto3.NewBackend(srv, srv), nil, o)
	}()
	fe := pgproto3.NewFrontend(cli, cli)
	m, rerr := fe.Receive()
	if rerr != nil {
		t.Fatal(rerr)
	}
	offered = m.(*pgproto3.AuthenticationSASL).AuthMechanisms
	fe.Send(answer)
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	// The server either fails, or answers and waits: then hang up.
	go func() {
		fe.Receive()
		cli.Close()
	}()
	return offered, <-done
}

func TestMechanismsOffered(t *testing.T) {
	// In the clear: SCRAM-SHA-256 only. A cleartext PasswordMessage, or a
	// mechanism not offered, is a protocol violation.
	offered, err := exchange(t, Options{}, &pgproto3.PasswordMessage{Password: "pw"})
	if strings.Join(offered, ",") != "SCRAM-SHA-256" || !errors.Is(err, ErrProtocol) {
		t.Fatalf("offered %q; cleartext answer: %v", offered, err)
	}
	for _, mech := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1", "PLAIN", ""} {
		if _, err := exchange(t, Options{}, &pgproto3.SASLInitialResponse{AuthMechanism: mech, Data: []byte("n,,n=,r=x")}); !errors.Is(err, ErrProtocol) {
			t.Errorf("mechanism %q: %v", mech, err)
		}
	}
	// Over TLS with an ECDSA certificate, PLUS first.
	ecdsaCert := &x509.Certificate{Raw: []byte("cert"), SignatureAlgorithm: x509.ECDSAWithSHA256}
	offered, _ = exchange(t, Options{ServerCertificate: ecdsaCert}, &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("y,,n=,r=x")})
	if strings.Join(offered, ",") != "SCRAM-SHA-256-PLUS,SCRAM-SHA-256" {
		t.Fatalf("over TLS offered %q", offered)
	}
	// An Ed25519 certificate has no tls-server-end-point hash: no PLUS.
	edCert := &x509.Certificate{Raw: []byte("cert"), SignatureAlgorithm: x509.PureEd25519}
	offered, _ = exchange(t, Options{ServerCertificate: edCert}, &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=x")})
	if strings.Join(offered, ",") != "SCRAM-SHA-256" {
		t.Fatalf("Ed25519 certificate offered %q", offered)
	}
}

func TestEndpointBinding(t *testing.T) {
	for alg, size := range map[x509.SignatureAlgorithm]int{
		x509.SHA1WithRSA: 32, x509.SHA256WithRSA: 32, x509.ECDSAWithSHA256: 32,
		x509.SHA384WithRSA: 48, x509.ECDSAWithSHA384: 48, x509.SHA512WithRSAPSS: 64,
	} {
		b, err := endpointBinding(&x509.Certificate{Raw: []byte("x"), SignatureAlgorithm: alg})
		if err != nil || len(b.Data) != size {
			t.Errorf("%v: %d bytes, %v", alg, len(b.Data), err)
		}
	}
}
