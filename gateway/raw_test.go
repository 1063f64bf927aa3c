package gateway_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	xscram "github.com/xdg-go/scram"
)

// rawConn is a hand-driven PostgreSQL frontend over one connection to the
// gateway, for what pgx will not send.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	fe   *pgproto3.Frontend
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn, fe: pgproto3.NewFrontend(conn, conn)}
}

// upgrade sends an SSLRequest and, on 'S', starts TLS with cfg.
func (c *rawConn) upgrade(cfg *tls.Config) {
	c.t.Helper()
	c.send(&pgproto3.SSLRequest{})
	if b := c.readByte(); b != 'S' {
		c.t.Fatalf("SSLRequest answered %q, want 'S'", b)
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn = tc
	c.fe = pgproto3.NewFrontend(tc, tc)
}

func (c *rawConn) readByte() byte {
	c.t.Helper()
	b := make([]byte, 1)
	if _, err := c.conn.Read(b); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return b[0]
}

func (c *rawConn) send(msgs ...pgproto3.FrontendMessage) {
	c.t.Helper()
	for _, m := range msgs {
		c.fe.Send(m)
	}
	if err := c.fe.Flush(); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// recv returns the next message, described: its type, and for errors
// their severity, code and message.
func (c *rawConn) recv() string {
	c.t.Helper()
	m, err := c.fe.Receive()
	if err != nil {
		c.t.Fatalf("receive: %v", err)
	}
	return describe(m)
}

func describe(m pgproto3.BackendMessage) string {
	switch m := m.(type) {
	case *pgproto3.ErrorResponse:
		return fmt.Sprintf("ErrorResponse %s %s: %s", m.Severity, m.Code, m.Message)
	case *pgproto3.CommandComplete:
		return "CommandComplete " + string(m.CommandTag)
	case *pgproto3.DataRow:
		var vals []string
		for _, v := range m.Values {
			vals = append(vals, string(v))
		}
		return "DataRow " + strings.Join(vals, ",")
	case *pgproto3.ReadyForQuery:
		return "ReadyForQuery " + string(m.TxStatus)
	case *pgproto3.AuthenticationSASL:
		return "AuthenticationSASL " + strings.Join(m.AuthMechanisms, ",")
	case *pgproto3.NegotiateProtocolVersion:
		return fmt.Sprintf("NegotiateProtocolVersion 3.%d %s", m.NewestMinorProtocol, strings.Join(m.UnrecognizedOptions, ","))
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", m), "*pgproto3.")
}

// until receives up to and including a message starting with last, and
// returns them; ParameterStatus and NoticeResponse are left out.
func (c *rawConn) until(last string) []string {
	c.t.Helper()
	var got []string
	for {
		d := c.recv()
		if d == "ParameterStatus" || d == "NoticeResponse" {
			continue
		}
		got = append(got, d)
		if strings.HasPrefix(d, last) {
			return got
		}
		if len(got) > 10000 {
			c.t.Fatalf("no %s in %d messages", last, len(got))
		}
	}
}

// closed says whether the gateway has hung up (after any messages
// pending).
func (c *rawConn) closed() bool {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, err := c.fe.Receive()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		return true
	}
}

// startup sends a StartupMessage of the given protocol version.
func (c *rawConn) startup(version uint32, params map[string]string) {
	c.t.Helper()
	c.send(&pgproto3.StartupMessage{ProtocolVersion: version, Parameters: params})
}

// scram answers AuthenticationSASL (already received) with a SCRAM-SHA-256
// exchange for password and returns what the gateway said after its
// SASLContinue: the outcome.
func (c *rawConn) scram(password string) string {
	c.t.Helper()
	client, err := xscram.SHA256.NewClient("", password, "")
	if err != nil {
		c.t.Fatal(err)
	}
	conv := client.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte(first)})
	m, err := c.fe.Receive()
	if err != nil {
		c.t.Fatal(err)
	}
	cont, ok := m.(*pgproto3.AuthenticationSASLContinue)
	if !ok {
		return describe(m)
	}
	final, err := conv.Step(string(cont.Data))
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(&pgproto3.SASLResponse{Data: []byte(final)})
	m, err = c.fe.Receive()
	if err != nil {
		c.t.Fatal(err)
	}
	if fin, ok := m.(*pgproto3.AuthenticationSASLFinal); ok {
		if _, err := conv.Step(string(fin.Data)); err != nil {
			c.t.Fatalf("the gateway's SCRAM signature does not verify: %v", err)
		}
		return "AuthenticationSASLFinal"
	}
	return describe(m)
}

// login starts a 3.0 session as user (password = name) on database db
// and waits for its first ReadyForQuery.
func (c *rawConn) login(user, db string) {
	c.t.Helper()
	c.startup(pgproto3.ProtocolVersion30, map[string]string{"user": user, "database": db})
	offer := "AuthenticationSASL SCRAM-SHA-256"
	if _, ok := c.conn.(*tls.Conn); ok {
		offer = "AuthenticationSASL SCRAM-SHA-256-PLUS,SCRAM-SHA-256" // then unbound SCRAM, flag n
	}
	if got := c.recv(); got != offer {
		c.t.Fatalf("after StartupMessage: %s", got)
	}
	if got := c.scram(user); got != "AuthenticationSASLFinal" {
		c.t.Fatalf("SCRAM: %s", got)
	}
	if got := c.until("ReadyForQuery"); got[0] != "AuthenticationOk" || got[len(got)-2] != "BackendKeyData" {
		c.t.Fatalf("after SCRAM: %q", got)
	}
}
