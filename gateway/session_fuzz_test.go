package gateway_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/internal/teststack"
)

// FuzzSession sends fuzzed bytes as the message stream of an authenticated
// session (alice, under W-DEMO-1) to the real gateway in front of the real
// PostgreSQL, then checks the gateway still serves a new session. What it
// holds the gateway to: no input sequence — out-of-order extended-protocol
// messages, unknown portals and statements, torn or oversized frames,
// stray COPY data — panics it, hangs it, or takes it down for others.
// (A panic in a session goroutine ends the test binary: the fuzzer reports
// it as a crash.)
func FuzzSession(f *testing.F) {
	enc := func(msgs ...pgproto3.FrontendMessage) []byte {
		var b []byte
		for _, m := range msgs {
			var err error
			if b, err = m.Encode(b); err != nil {
				f.Fatal(err)
			}
		}
		return b
	}
	read := "SELECT full_name FROM persons WHERE person_id = $1"
	f.Add(enc(&pgproto3.Query{String: "SELECT full_name FROM persons WHERE person_id = 101"}))
	f.Add(enc(&pgproto3.Parse{Name: "s", Query: read}, &pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s", Parameters: [][]byte{[]byte("101")}},
		&pgproto3.Describe{ObjectType: 'P', Name: "p"}, &pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{}))
	f.Add(enc(&pgproto3.Execute{Portal: "nope"}, &pgproto3.Flush{}, &pgproto3.Bind{PreparedStatement: "missing"}, &pgproto3.Sync{}))
	f.Add(enc(&pgproto3.Parse{Query: read}, &pgproto3.Bind{Parameters: [][]byte{[]byte("101"), []byte("x")}}, &pgproto3.Execute{MaxRows: 1}, &pgproto3.Execute{}, &pgproto3.Sync{}))
	f.Add(enc(&pgproto3.Query{String: "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM persons; FETCH 1000 c"}, &pgproto3.CopyData{Data: []byte("x")}, &pgproto3.CopyDone{}))
	f.Add(enc(&pgproto3.Query{String: "SET custodes.authority = 'L-DEMO-2'; SELECT person_id FROM persons"}, &pgproto3.Close{ObjectType: 'S', Name: ""}, &pgproto3.Sync{}))
	f.Add([]byte{'Q', 0, 0, 0, 3})                                           // a length shorter than its header
	f.Add([]byte{'P', 0x7f, 0xff, 0xff, 0xff, 's'})                          // a length far beyond the cap
	f.Add(append(enc(&pgproto3.Query{String: "SELECT 1"}), 'X', 0, 0, 0, 4)) // then Terminate

	st := teststack.Start(f, 200)
	f.Fuzz(func(t *testing.T, stream []byte) {
		if len(stream) > 64<<10 {
			return
		}
		c := dialRaw(t, st.Addr)
		c.startup(pgproto3.ProtocolVersion30, map[string]string{"user": "alice", "database": st.Config.BackendDatabase(), "options": "-c custodes.authority=W-DEMO-1"})
		if got := c.recv(); got != "AuthenticationSASL SCRAM-SHA-256" {
			t.Fatalf("after StartupMessage: %s", got)
		}
		if got := c.scram("alice"); got != "AuthenticationSASLFinal" {
			t.Fatalf("SCRAM: %s", got)
		}
		if got := c.until("ReadyForQuery"); got[len(got)-1] != "ReadyForQuery I" {
			t.Fatalf("after SCRAM: %q", got)
		}
		if _, err := c.conn.Write(stream); err != nil {
			return // the gateway may have ended the session already
		}
		// The stream ends there: half-closed, the gateway reads EOF after
		// it and ends the session. Read whatever comes until then, or for
		// at most 2s (a statement the stream started may run that long).
		c.conn.(*net.TCPConn).CloseWrite()
		c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.Copy(io.Discard, c.conn)
		c.conn.Close()

		// The gateway goes on serving others.
		r := dialRaw(t, st.Addr)
		r.login("bob", st.Config.BackendDatabase())
		r.send(&pgproto3.Query{String: "SELECT 1"})
		if got := r.until("ReadyForQuery"); !strings.HasPrefix(got[len(got)-2], "CommandComplete") {
			t.Fatalf("a new session after the fuzzed one: %q", got)
		}
	})
}
