package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The first packets of a connection, before any message has a type byte:
// SSLRequest, GSSENCRequest, CancelRequest and StartupMessage. They are
// read here byte for byte, not through pgproto3's buffered reader, so that
// nothing a client sends after an SSLRequest can be read ahead in the clear
// and then taken as if it had come over TLS (CVE-2021-23214): after 'S'
// the very next byte belongs to the TLS handshake.

const (
	codeSSL    = 1234<<16 | 5679
	codeGSS    = 1234<<16 | 5680
	codeCancel = 1234<<16 | 5678

	// maxStartupPacket is PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
	maxStartupPacket = 10000

	// tlsHandshake is the first byte of a TLS record carrying a
	// ClientHello: a client with sslnegotiation=direct (PostgreSQL 17)
	// starts TLS without an SSLRequest.
	tlsHandshake = 0x16

	// alpn is the TLS application protocol PostgreSQL clients name.
	alpn = "postgresql"

	// authMaxMessage bounds a client message before authentication has
	// finished (SASL responses are a few hundred bytes).
	authMaxMessage = 64 << 10
)

// front is what the gateway needs to greet clients: TLS and the count of
// failed logins.
type front struct {
	tls     *tls.Config       // nil: TLS not configured
	leaf    *x509.Certificate // the certificate presented, for channel binding
	require bool
	logins  *lockout
}

func newFront(cfg *Config) (*front, error) {
	f := &front{require: cfg.RequireTLS, logins: newLockout(cfg.Logins)}
	if cfg.TLS == nil {
		if cfg.RequireTLS {
			return nil, errors.New("gateway: RequireTLS without a TLS config")
		}
		return f, nil
	}
	f.tls = cfg.TLS.Clone()
	if f.tls.MinVersion < tls.VersionTLS12 {
		f.tls.MinVersion = tls.VersionTLS12
	}
	if !slices.Contains(f.tls.NextProtos, alpn) {
		f.tls.NextProtos = append(f.tls.NextProtos, alpn)
	}
	if len(f.tls.Certificates) == 0 && f.tls.GetCertificate == nil {
		return nil, errors.New("gateway: the TLS config has no certificate")
	}
	if len(f.tls.Certificates) == 1 && f.tls.GetCertificate == nil {
		c := f.tls.Certificates[0]
		f.leaf = c.Leaf
		if f.leaf == nil && len(c.Certificate) > 0 {
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				return nil, fmt.Errorf("gateway: the TLS certificate: %w", err)
			}
			f.leaf = leaf
		}
	}
	return f, nil
}

// startupPacket is one packet of the start-up phase: its code and body.
type startupPacket struct {
	code uint32
	body []byte // including the code
}

// errDirectTLS means the client began a TLS handshake without asking.
var errDirectTLS = errors.New("direct TLS")

// readStartupPacket reads exactly one start-up packet from r. A first
// byte of 0x16 is a direct TLS ClientHello: hdr then holds the four bytes
// read, which belong to the handshake.
func readStartupPacket(r io.Reader) (p startupPacket, hdr [4]byte, err error) {
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return p, hdr, err
	}
	if hdr[0] == tlsHandshake {
		return p, hdr, errDirectTLS
	}
	n := int(int32(binary.BigEndian.Uint32(hdr[:])))
	if n < 8 || n > maxStartupPacket {
		return p, hdr, fmt.Errorf("invalid length of startup packet: %d", n)
	}
	p.body = make([]byte, n-4)
	if _, err := io.ReadFull(r, p.body); err != nil {
		return p, hdr, err
	}
	p.code = binary.BigEndian.Uint32(p.body)
	return p, hdr, nil
}

func isTLS(c net.Conn) bool {
	_, ok := c.(*tls.Conn)
	return ok
}

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// upgrade runs the server side of a TLS handshake on conn, whose client
// has been told 'S' (or started TLS directly, having sent first).
func (f *front) upgrade(conn net.Conn, first []byte, direct bool) (*tls.Conn, error) {
	if len(first) > 0 {
		conn = &prefixConn{Conn: conn, r: io.MultiReader(bytes.NewReader(first), conn)}
	}
	tc := tls.Server(conn, f.tls)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake failed: %w", err)
	}
	// PostgreSQL 17 accepts direct TLS only from a client that names the
	// protocol: anything else may be a different protocol's client.
	if direct && tc.ConnectionState().NegotiatedProtocol != alpn {
		return tc, errors.New("direct TLS without ALPN postgresql")
	}
	return tc, nil
}

// negotiate reads the start-up packets of a connection up to its
// StartupMessage, answering SSLRequest (with TLS when it is configured)
// and GSSENCRequest, and serving a CancelRequest (then returns nil, nil).
// sess.client is the TLS connection once TLS is up.
func (s *Server) negotiate(sess *session) (*pgproto3.StartupMessage, error) {
	sslAsked, gssAsked := false, false
	for {
		p, hdr, err := readStartupPacket(sess.client)
		switch {
		case errors.Is(err, errDirectTLS):
			if s.front.tls == nil || sslAsked {
				return nil, errors.New("direct TLS connection, but TLS is not configured")
			}
			tc, err := s.front.upgrade(sess.client, hdr[:], true)
			if tc != nil {
				sess.client = tc
			}
			if err != nil {
				if tc != nil {
					sess.fatal("08P01", "custodes: direct TLS connections must use ALPN protocol "+alpn, "")
					return nil, errHandled
				}
				return nil, err
			}
			sslAsked = true
			continue
		case err != nil:
			return nil, fmt.Errorf("couldn't read startup packet: %w", err)
		}
		switch p.code {
		case codeSSL:
			if sslAsked || len(p.body) != 4 {
				return nil, errors.New("SSLRequest out of order")
			}
			sslAsked = true
			if s.front.tls == nil {
				// TLS is not configured: say so with 'N', as PostgreSQL does.
				if _, err := sess.client.Write([]byte{'N'}); err != nil {
					return nil, err
				}
				continue
			}
			if _, err := sess.client.Write([]byte{'S'}); err != nil {
				return nil, err
			}
			tc, err := s.front.upgrade(sess.client, nil, false)
			if err != nil {
				return nil, err
			}
			sess.client = tc
		case codeGSS:
			// There is no GSSAPI encryption: 'N', and the client may go on
			// with an SSLRequest or its StartupMessage. Once only.
			if gssAsked || isTLS(sess.client) || len(p.body) != 4 {
				return nil, errors.New("GSSENCRequest out of order")
			}
			gssAsked = true
			if _, err := sess.client.Write([]byte{'N'}); err != nil {
				return nil, err
			}
		case codeCancel:
			var m pgproto3.CancelRequest
			if err := m.Decode(p.body); err != nil {
				return nil, err
			}
			s.cancel(m.ProcessID, m.SecretKey)
			return nil, nil
		default:
			return s.startupMessage(sess, p)
		}
	}
}

// startupMessage decodes a StartupMessage, refusing a protocol other than
// 3.x as PostgreSQL does.
func (s *Server) startupMessage(sess *session, p startupPacket) (*pgproto3.StartupMessage, error) {
	m, err := decodeStartup(p)
	var unsupported errUnsupported
	switch {
	case errors.As(err, &unsupported):
		sess.fatal("0A000", err.Error(), "")
		return nil, errHandled
	case err != nil:
		sess.fatal("08P01", "invalid startup packet layout", "")
		return nil, errHandled
	}
	return m, nil
}

type errUnsupported struct{ major, minor uint32 }

func (e errUnsupported) Error() string {
	return fmt.Sprintf("unsupported frontend protocol %d.%d: server supports 3.0 to 3.0", e.major, e.minor)
}

// decodeStartup decodes the StartupMessage p of any version 3.x, keeping
// the version asked for (pgproto3 decodes only 3.0 and 3.2).
func decodeStartup(p startupPacket) (*pgproto3.StartupMessage, error) {
	major, minor := p.code>>16, p.code&0xffff
	if major != 3 {
		return nil, errUnsupported{major, minor}
	}
	body := bytes.Clone(p.body)
	binary.BigEndian.PutUint32(body, pgproto3.ProtocolVersion30)
	m := &pgproto3.StartupMessage{}
	if err := m.Decode(body); err != nil {
		return nil, err
	}
	m.ProtocolVersion = p.code
	return m, nil
}

// negotiateVersion answers a StartupMessage that asks for a newer minor
// version than 3.0 (PostgreSQL 18 clients may ask for 3.2) or names
// protocol options (_pq_.*): the gateway speaks 3.0 and knows no option,
// and says so with NegotiateProtocolVersion, as a PostgreSQL 17 server
// does. The client then goes on in 3.0 or hangs up.
func negotiateVersion(sess *session, m *pgproto3.StartupMessage) error {
	var unknown []string
	for k := range m.Parameters {
		if strings.HasPrefix(k, "_pq_.") {
			unknown = append(unknown, k)
		}
	}
	if m.ProtocolVersion == pgproto3.ProtocolVersion30 && len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	sess.send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: unknown})
	return sess.flush()
}
