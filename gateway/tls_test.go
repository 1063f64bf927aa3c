package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/pgtest"
)

// testPKI is a throwaway CA and a server certificate it signed for
// 127.0.0.1 and localhost, as PEM files in Dir.
type testPKI struct {
	Dir                string
	CA, Cert, Key      string // file paths
	CAPool             *x509.CertPool
	certPEM, keyPEM    []byte
	serverCert, caCert *x509.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "custodes test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "custodes test server"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	serverCert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{
		Dir: dir, CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "server.crt"), Key: filepath.Join(dir, "server.key"),
		certPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		serverCert: serverCert, caCert: caCert,
	}
	p.CAPool = x509.NewCertPool()
	p.CAPool.AddCert(caCert)
	for path, b := range map[string][]byte{p.CA: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), p.Cert: p.certPEM, p.Key: p.keyPEM} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// withTLS configures the stack's gateway with the PKI's certificate.
func withTLS(p *testPKI, require bool) func(*config.Config) {
	return func(c *config.Config) {
		c.TLS = config.TLS{CertFile: p.Cert, KeyFile: p.Key, Require: require}
	}
}

// tlsURL is an analyst's URL with extra query parameters.
func tlsURL(st *teststack.Stack, host, user, query string) string {
	_, port, _ := net.SplitHostPort(st.Addr)
	return "postgres://" + user + ":" + user + "@" + net.JoinHostPort(host, port) + "/" + st.Config.BackendDatabase() + "?" + query
}

// lawful runs a statement no authority is needed for and checks its row.
func lawful(t *testing.T, c *pgx.Conn) {
	t.Helper()
	var city string
	if err := c.QueryRow(context.Background(), "SELECT city FROM addresses WHERE address_id = $1", 1).Scan(&city); err != nil || city == "" {
		t.Fatalf("statement: %q, %v", city, err)
	}
}

func dialURL(t *testing.T, u string) (*pgx.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err == nil {
		t.Cleanup(func() { c.Close(context.Background()) })
	}
	return c, err
}

func isTLSConn(c *pgx.Conn) (*tls.Conn, bool) {
	tc, ok := c.PgConn().Conn().(*tls.Conn)
	return tc, ok
}

// TestTLSClients: with a certificate configured, clients with sslmode
// require and verify-full (and direct TLS, and channel binding) work,
// plaintext clients still do, and what must fail fails.
func TestTLSClients(t *testing.T) {
	p := newPKI(t)
	st := teststack.Start(t, 200, withTLS(p, false))
	ctx := context.Background()

	t.Run("sslmode=require", func(t *testing.T) {
		c, err := dialURL(t, tlsURL(st, "127.0.0.1", "alice", "sslmode=require"))
		if err != nil {
			t.Fatal(err)
		}
		tc, ok := isTLSConn(c)
		if !ok {
			t.Fatal("sslmode=require connection is not TLS")
		}
		if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
			t.Errorf("TLS version %x, want 1.3", v)
		}
		lawful(t, c)
		// A denial over TLS is the same denial.
		_, err = c.Exec(ctx, "SELECT full_name FROM persons WHERE person_id = $1", 101)
		wantDenied(t, err, "AUP-1")
	})

	t.Run("sslmode=verify-full", func(t *testing.T) {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			c, err := dialURL(t, tlsURL(st, host, "bob", "sslmode=verify-full&sslrootcert="+url.QueryEscape(p.CA)))
			if err != nil {
				t.Fatalf("%s: %v", host, err)
			}
			lawful(t, c)
		}
		// Against another CA the certificate does not verify.
		other := newPKI(t)
		_, err := dialURL(t, tlsURL(st, "127.0.0.1", "bob", "sslmode=verify-full&sslrootcert="+url.QueryEscape(other.CA)))
		var uerr x509.UnknownAuthorityError
		if err == nil || !errors.As(err, &uerr) {
			t.Fatalf("verify-full against a different CA: %v", err)
		}
	})

	t.Run("channel binding", func(t *testing.T) {
		// SCRAM-SHA-256-PLUS, bound to the certificate.
		c, err := dialURL(t, tlsURL(st, "127.0.0.1", "alice", "sslmode=require&channel_binding=require"))
		if err != nil {
			t.Fatal(err)
		}
		lawful(t, c)
		// The same in the clear cannot be had.
		if _, err := dialURL(t, tlsURL(st, "127.0.0.1", "alice", "sslmode=disable&channel_binding=require")); err == nil {
			t.Fatal("channel_binding=require without TLS connected")
		}
		// A wrong password is still wrong.
		_, err = dialURL(t, strings.Replace(tlsURL(st, "127.0.0.1", "alice", "sslmode=require&channel_binding=require"), "alice:alice", "alice:wrong", 1))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "28P01" {
			t.Fatalf("wrong password with channel binding: %v", err)
		}
	})

	t.Run("direct TLS", func(t *testing.T) {
		c, err := dialURL(t, tlsURL(st, "127.0.0.1", "alice", "sslmode=verify-full&sslnegotiation=direct&sslrootcert="+url.QueryEscape(p.CA)))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := isTLSConn(c); !ok {
			t.Fatal("not TLS")
		}
		lawful(t, c)
		// Direct TLS without ALPN is refused, as PostgreSQL 17 refuses it.
		conn, err := tls.Dial("tcp", st.Addr, &tls.Config{RootCAs: p.CAPool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		m, err := pgproto3.NewFrontend(conn, conn).Receive()
		if e, ok := m.(*pgproto3.ErrorResponse); err != nil || !ok || e.Code != "08P01" {
			t.Fatalf("direct TLS without ALPN: %v %v", m, err)
		}
	})

	t.Run("plaintext still allowed", func(t *testing.T) {
		c, err := dialURL(t, tlsURL(st, "127.0.0.1", "alice", "sslmode=disable"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := isTLSConn(c); ok {
			t.Fatal("sslmode=disable got TLS")
		}
		lawful(t, c)
	})

	t.Run("mechanisms over TLS", func(t *testing.T) {
		r := dialRaw(t, st.Addr)
		r.upgrade(&tls.Config{RootCAs: p.CAPool, ServerName: "localhost"})
		r.startup(pgproto3.ProtocolVersion30, map[string]string{"user": "alice", "database": st.Config.BackendDatabase()})
		if got := r.recv(); got != "AuthenticationSASL SCRAM-SHA-256-PLUS,SCRAM-SHA-256" {
			t.Fatalf("over TLS the gateway offered %s", got)
		}
		// A client that binds but chose the unbound mechanism while PLUS was
		// offered is a downgrade: refused.
		r.send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("y,,n=,r=abcdefghijklmnop")})
		if got := r.recv(); !strings.HasPrefix(got, "ErrorResponse FATAL 28P01") {
			t.Fatalf("gs2 flag y with PLUS offered: %s", got)
		}
	})

	t.Run("old TLS refused", func(t *testing.T) {
		r := dialRaw(t, st.Addr)
		r.send(&pgproto3.SSLRequest{})
		if b := r.readByte(); b != 'S' {
			t.Fatalf("SSLRequest: %q", b)
		}
		tc := tls.Client(r.conn, &tls.Config{RootCAs: p.CAPool, ServerName: "localhost", MaxVersion: tls.VersionTLS11})
		if err := tc.Handshake(); err == nil {
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})

	t.Run("plaintext after SSLRequest", func(t *testing.T) {
		// CVE-2021-23214: bytes sent in the clear behind an SSLRequest must
		// not be taken as if they had come over TLS.
		r := dialRaw(t, st.Addr)
		ssl, _ := (&pgproto3.SSLRequest{}).Encode(nil)
		start, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
			Parameters: map[string]string{"user": "alice", "database": st.Config.BackendDatabase()}}).Encode(nil)
		if _, err := r.conn.Write(append(ssl, start...)); err != nil {
			t.Fatal(err)
		}
		if b := r.readByte(); b != 'S' {
			t.Fatalf("SSLRequest: %q", b)
		}
		rest := make([]byte, 64)
		n, err := r.conn.Read(rest)
		if err == nil && n > 0 && rest[0] == 'R' {
			t.Fatalf("the injected StartupMessage was served: %q", rest[:n])
		}
	})

	t.Run("cancel over TLS", func(t *testing.T) {
		c, err := dialURL(t, tlsURL(st, "127.0.0.1", "alice", "sslmode=require"))
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		if _, err := c.Exec(cctx, "SELECT pg_sleep(20)"); err == nil {
			t.Fatal("pg_sleep(20) finished within 1s")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("cancel took %v", d)
		}
		admin := st.Admin(t)
		waitNoQuery(t, admin, "SELECT pg_sleep(20)")
	})

	t.Run("psql verify-full", func(t *testing.T) {
		psql, err := exec.LookPath("psql")
		if err != nil {
			t.Skip("no psql on PATH")
		}
		out, err := exec.Command(psql, tlsURL(st, "localhost", "alice", "sslmode=verify-full&sslrootcert="+url.QueryEscape(p.CA)), "-X", "-At",
			"-c", "SELECT city FROM addresses WHERE address_id = 1").CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) == 0 {
			t.Fatalf("psql: %v\n%s", err, out)
		}
	})
}

// TestTLSRequired: with tls.require, a plaintext client is refused before
// authentication with a clear FATAL, and TLS clients work.
func TestTLSRequired(t *testing.T) {
	p := newPKI(t)
	st := teststack.Start(t, 200, withTLS(p, true))

	_, err := dialURL(t, tlsURL(st, "127.0.0.1", "alice", "sslmode=disable"))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28000" || !strings.Contains(pe.Message, "only TLS") {
		t.Fatalf("plaintext client: %v", err)
	}
	// Refused before any password exchange.
	r := dialRaw(t, st.Addr)
	r.startup(pgproto3.ProtocolVersion30, map[string]string{"user": "alice", "database": st.Config.BackendDatabase()})
	if got := r.recv(); !strings.HasPrefix(got, "ErrorResponse FATAL 28000") {
		t.Fatalf("plaintext StartupMessage answered %s", got)
	}
	// sslmode=prefer (pgx's and libpq's default) upgrades, and works.
	c, err := dialURL(t, tlsURL(st, "127.0.0.1", "alice", "sslmode=prefer"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := isTLSConn(c); !ok {
		t.Fatal("sslmode=prefer did not get TLS")
	}
	lawful(t, c)
	c, err = dialURL(t, tlsURL(st, "127.0.0.1", "bob", "sslmode=verify-full&sslrootcert="+url.QueryEscape(p.CA)))
	if err != nil {
		t.Fatal(err)
	}
	lawful(t, c)
	if psql, err := exec.LookPath("psql"); err == nil {
		out, err := exec.Command(psql, tlsURL(st, "127.0.0.1", "alice", "sslmode=disable"), "-X", "-At", "-c", "SELECT 1").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "accepts only TLS") {
			t.Fatalf("psql sslmode=disable: %v\n%s", err, out)
		}
	}
}

// TestTLSBackend: the backend URL's sslmode is honoured. The shared test
// cluster is given a certificate and ssl=on; a gateway whose backend.url
// says sslmode=require (and one with verify-full against the CA) connects
// every session's backend over TLS, and CancelRequests still reach it.
func TestTLSBackend(t *testing.T) {
	p := newPKI(t)
	cluster := pgtest.Cluster(t)
	ctx := context.Background()
	enableSSL(t, cluster.Dir(), cluster.SuperuserURL("postgres"), p)

	for _, mode := range []string{"sslmode=require", "sslmode=verify-full&sslrootcert=" + url.QueryEscape(p.CA)} {
		t.Run(strings.SplitN(mode, "&", 2)[0], func(t *testing.T) {
			st := teststack.Start(t, 200, func(c *config.Config) {
				c.Backend.URL = strings.Replace(c.Backend.URL, "sslmode=disable", mode, 1)
			})
			c := connect(t, st, "alice", "")
			lawful(t, c)
			admin := st.Admin(t)
			var withSSL, without int
			if err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
				FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
				WHERE a.datname = $1 AND a.application_name LIKE 'custodes:%'`, st.Config.BackendDatabase()).Scan(&withSSL, &without); err != nil {
				t.Fatal(err)
			}
			if withSSL < 1 || without != 0 {
				t.Fatalf("gateway backend sessions: %d over TLS, %d in the clear", withSSL, without)
			}
			// The gateway's CancelRequest reaches a TLS backend session.
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			start := time.Now()
			if _, err := c.Exec(cctx, "SELECT pg_sleep(20)"); err == nil || time.Since(start) > 10*time.Second {
				t.Fatalf("cancel: %v after %v", err, time.Since(start))
			}
			waitNoQuery(t, admin, "SELECT pg_sleep(20)")
		})
	}
}

// enableSSL gives the cluster the PKI's server certificate and turns ssl
// on, until the test ends.
func enableSSL(t *testing.T, dataDir, superURL string, p *testPKI) {
	t.Helper()
	ctx := context.Background()
	fi, err := os.Stat(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	owner := fi.Sys().(*syscall.Stat_t)
	for name, b := range map[string][]byte{"server.crt": p.certPEM, "server.key": p.keyPEM} {
		path := filepath.Join(dataDir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		// The server runs as the data directory's owner (postgres, when
		// the tests run as root) and refuses a key it does not own.
		if err := os.Chown(path, int(owner.Uid), int(owner.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := pgx.Connect(ctx, superURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	set := func(sql string) {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			t.Fatal(err)
		}
	}
	set("ALTER SYSTEM SET ssl = on")
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, superURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close(ctx)
		admin.Exec(ctx, "ALTER SYSTEM RESET ssl")
		admin.Exec(ctx, "SELECT pg_reload_conf()")
	})
	// The reload is asynchronous: wait until a TLS connection works.
	sslURL := strings.Replace(superURL, "sslmode=disable", "sslmode=verify-full&sslrootcert="+url.QueryEscape(p.CA), 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := pgx.Connect(ctx, sslURL)
		if err == nil {
			c.Close(ctx)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not turn ssl on: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitNoQuery waits until no backend runs query: a cancel must reach the
// backend, not only end the client's wait.
func waitNoQuery(t *testing.T, admin *pgx.Conn, query string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = $1`, query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q still runs in the backend: the cancel did not reach it", query)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
