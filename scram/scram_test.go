package scram

import (
	"context"
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
		err := Authenticate(be, v)
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
