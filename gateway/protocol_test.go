package gateway_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/internal/teststack"
)

// The wire protocol's edges, against the real gateway with hand-driven
// frontends: what pgx and psql do not send, or send only rarely.

// want checks got against want, message by message.
func want(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("%s: message %d:\n got  %q\n want %q", what, i, got, want)
		}
	}
}

// rawSession is a logged-in raw connection.
func rawSession(t *testing.T, st *teststack.Stack, user string) *rawConn {
	t.Helper()
	r := dialRaw(t, st.Addr)
	r.login(user, st.Config.BackendDatabase())
	return r
}

// query runs a simple Query and returns its messages up to ReadyForQuery.
func (c *rawConn) query(sql string) []string {
	c.t.Helper()
	c.send(&pgproto3.Query{String: sql})
	return c.until("ReadyForQuery")
}

// alive checks the session still answers.
func (c *rawConn) alive() {
	c.t.Helper()
	want(c.t, "SELECT 1 afterwards", c.query("SELECT 1"), "RowDescription", "DataRow 1", "CommandComplete SELECT 1", "ReadyForQuery I")
}

func TestProtocolStartup(t *testing.T) {
	st := teststack.Start(t, 200)
	db := st.Config.BackendDatabase()
	ctx := context.Background()

	t.Run("protocol 3.2", func(t *testing.T) {
		// A PostgreSQL 18 client may ask for 3.2, with protocol options:
		// the gateway answers that it speaks 3.0 and knows no option.
		r := dialRaw(t, st.Addr)
		r.startup(pgproto3.ProtocolVersion32, map[string]string{"user": "alice", "database": db, "_pq_.test_option": "1"})
		want(t, "3.2 startup", []string{r.recv(), r.recv()}, "NegotiateProtocolVersion 3.0 _pq_.test_option", "AuthenticationSASL SCRAM-SHA-256")
		if got := r.scram("alice"); got != "AuthenticationSASLFinal" {
			t.Fatal(got)
		}
		got := r.until("ReadyForQuery")
		if got[0] != "AuthenticationOk" || got[len(got)-2] != "BackendKeyData" {
			t.Fatalf("after SCRAM: %q", got)
		}
		r.alive()
		// A minor version from the future is negotiated down the same way.
		r = dialRaw(t, st.Addr)
		r.startup(3<<16|99, map[string]string{"user": "alice", "database": db})
		want(t, "3.99 startup", []string{r.recv(), r.recv()}, "NegotiateProtocolVersion 3.0 ", "AuthenticationSASL")
		// pgx asking for the latest (3.2) gets a working 3.0 session.
		c, err := pgx.Connect(ctx, st.URL("alice")+"&max_protocol_version=latest")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		lawful(t, c)
		// Protocol 4 and 2 do not exist here.
		for _, v := range []uint32{4 << 16, 2 << 16} {
			r = dialRaw(t, st.Addr)
			r.startup(v, map[string]string{"user": "alice", "database": db})
			if got := r.recv(); !strings.HasPrefix(got, "ErrorResponse FATAL 0A000: unsupported frontend protocol") {
				t.Fatalf("protocol %d.0: %s", v>>16, got)
			}
		}
	})

	t.Run("GSSENCRequest", func(t *testing.T) {
		r := dialRaw(t, st.Addr)
		r.send(&pgproto3.GSSEncRequest{})
		if b := r.readByte(); b != 'N' {
			t.Fatalf("GSSENCRequest answered %q", b)
		}
		// Then an SSLRequest ('N': no TLS here), then the session.
		r.send(&pgproto3.SSLRequest{})
		if b := r.readByte(); b != 'N' {
			t.Fatalf("SSLRequest answered %q", b)
		}
		r.login("alice", db)
		r.alive()
		// Asking twice is a client going round in circles: hung up on.
		r = dialRaw(t, st.Addr)
		r.send(&pgproto3.GSSEncRequest{})
		r.readByte()
		r.send(&pgproto3.GSSEncRequest{})
		if !r.closed() {
			t.Fatal("a second GSSENCRequest was answered")
		}
		// libpq's gssencmode=prefer (its default where built with GSSAPI).
		c, err := pgx.Connect(ctx, st.URL("alice")+"&gssencmode=prefer")
		if err == nil {
			c.Close(ctx)
		}
	})

	t.Run("odd startup packets", func(t *testing.T) {
		writeRaw := func(b []byte) *rawConn {
			r := dialRaw(t, st.Addr)
			if _, err := r.conn.Write(b); err != nil {
				t.Fatal(err)
			}
			return r
		}
		packet := func(n int, body []byte) []byte {
			b := binary.BigEndian.AppendUint32(nil, uint32(n))
			return append(b, body...)
		}
		v30 := binary.BigEndian.AppendUint32(nil, pgproto3.ProtocolVersion30)
		// Too long (PostgreSQL's limit is 10000 bytes), too short, negative.
		for _, n := range []int{10001, 1 << 30, 4, 7, -1} {
			r := writeRaw(packet(n, v30))
			if !r.closed() {
				t.Fatalf("length %d: not hung up on", n)
			}
		}
		// Huge but within the limit: 9000 bytes of a parameter nobody knows.
		r := dialRaw(t, st.Addr)
		r.startup(pgproto3.ProtocolVersion30, map[string]string{"user": "alice", "database": db, "x_custom": strings.Repeat("a", 9000)})
		if got := r.recv(); got != "AuthenticationSASL SCRAM-SHA-256" {
			t.Fatalf("9000-byte startup packet: %s", got)
		}
		// Truncated: the length covers what was sent, but not a full packet.
		body := append(append([]byte{}, v30...), "user\x00alice"...)
		r = writeRaw(packet(4+len(body), body))
		if got := r.recv(); !strings.HasPrefix(got, "ErrorResponse FATAL 08P01: invalid startup packet layout") {
			t.Fatalf("unterminated startup packet: %s", got)
		}
		// Cut off mid-packet: the client hangs up before the rest.
		r = writeRaw(packet(200, v30))
		r.conn.(*net.TCPConn).CloseWrite()
		if !r.closed() {
			t.Fatal("a cut-off startup packet was not hung up on")
		}
		// No user.
		r = dialRaw(t, st.Addr)
		r.startup(pgproto3.ProtocolVersion30, map[string]string{"database": db})
		if got := r.recv(); !strings.HasPrefix(got, "ErrorResponse FATAL 28000: no PostgreSQL user name") {
			t.Fatalf("no user: %s", got)
		}
		// Replication connections: refused, never passed on.
		r = dialRaw(t, st.Addr)
		r.startup(pgproto3.ProtocolVersion30, map[string]string{"user": "alice", "database": db, "replication": "database"})
		if got := r.recv(); !strings.HasPrefix(got, "ErrorResponse FATAL 42501") {
			t.Fatalf("replication=database: %s", got)
		}
		// Unknown parameters and ones that would change the backend's
		// behaviour are dropped, bad UTF-8 and all; the session works and
		// the backend has row security on.
		r = dialRaw(t, st.Addr)
		r.startup(pgproto3.ProtocolVersion30, map[string]string{"user": "alice", "database": db,
			"row_security": "off", "search_path": "evil", "session_authorization": "postgres", "role": "postgres",
			"no_such_parameter": "1", "application_name": "\xff\xfe\xfd", "": "empty name"})
		if got := r.recv(); got != "AuthenticationSASL SCRAM-SHA-256" {
			t.Fatalf("odd parameters: %s", got)
		}
		r.scram("alice")
		r.until("ReadyForQuery")
		u, err := url.Parse(st.Config.Backend.URL)
		if err != nil {
			t.Fatal(err)
		}
		want(t, "current_user", r.query("SELECT current_user, session_user, current_setting('row_security')"),
			"RowDescription", "DataRow "+u.User.Username()+","+u.User.Username()+",on", "CommandComplete", "ReadyForQuery I")
		// The gateway still serves.
		lawful(t, connect(t, st, "bob", ""))
	})
}

func TestProtocolHostileInput(t *testing.T) {
	st := teststack.Start(t, 200)

	t.Run("bad UTF-8", func(t *testing.T) {
		r := rawSession(t, st, "alice")
		want(t, "SET", r.query("SET custodes.authority = 'W-DEMO-1'"), "CommandComplete SET", "ReadyForQuery I")
		for _, sql := range []string{
			"SELECT '\xff\xfe'",
			"SELECT \xc3\x28 FROM persons",
			"SELECT full_name FROM persons WHERE person_id = 101 -- \xed\xa0\x80",
			"SELECT city FROM addresses WHERE city = '\xf8\x88\x80\x80\x80'",
		} {
			got := r.query(sql)
			t.Logf("%q: %s", sql, got[0])
			if len(got) != 2 || !strings.HasPrefix(got[0], "ErrorResponse ERROR") || got[1] != "ReadyForQuery I" {
				t.Fatalf("%q: %q", sql, got)
			}
		}
		r.alive()
		// The same in the extended protocol.
		r.send(&pgproto3.Parse{Query: "SELECT '\xff'"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
		got := r.until("ReadyForQuery")
		t.Logf("Parse with bad UTF-8: %s", got[0])
		if len(got) != 2 || !strings.HasPrefix(got[0], "ErrorResponse ERROR") {
			t.Fatalf("Parse with bad UTF-8: %q", got)
		}
		// And in a Bind parameter.
		r.send(&pgproto3.Parse{Query: "SELECT city FROM addresses WHERE city = $1"},
			&pgproto3.Bind{Parameters: [][]byte{[]byte("\xff\xfe")}}, &pgproto3.Execute{}, &pgproto3.Sync{})
		got = r.until("ReadyForQuery")
		t.Logf("Bind with bad UTF-8: %q", got)
		if !strings.HasPrefix(got[len(got)-2], "ErrorResponse ERROR") {
			t.Fatalf("Bind with bad UTF-8: %q", got)
		}
		r.alive()
	})

	t.Run("NUL in a query", func(t *testing.T) {
		// A Query's string ends at its NUL; bytes after it are a
		// malformed message: the session ends, the gateway goes on.
		r := rawSession(t, st, "alice")
		msg := []byte{'Q', 0, 0, 0, 0}
		msg = append(msg, "SELECT 1\x00; SELECT pg_read_file('/etc/passwd')\x00"...)
		binary.BigEndian.PutUint32(msg[1:], uint32(len(msg)-1))
		r.conn.Write(msg)
		if !r.closed() {
			t.Fatal("the session survived a malformed Query")
		}
		lawful(t, connect(t, st, "alice", ""))
	})

	t.Run("COPY FROM STDIN", func(t *testing.T) {
		// Into a table that is not a registered dataset, and into one that
		// is: denied before the backend sees it; data sent anyway, without
		// waiting for a CopyInResponse, is ignored, as PostgreSQL ignores
		// copy messages outside COPY.
		ctx := context.Background()
		admin := st.Admin(t)
		if _, err := admin.Exec(ctx, "CREATE TABLE public.scratch (x text); GRANT ALL ON public.scratch TO PUBLIC"); err != nil {
			t.Fatal(err)
		}
		r := rawSession(t, st, "alice")
		for _, sql := range []string{"COPY scratch FROM STDIN", "COPY public.scratch (x) FROM STDIN WITH (FORMAT csv)", "COPY case_files FROM STDIN"} {
			r.send(&pgproto3.Query{String: sql}, &pgproto3.CopyData{Data: []byte("smuggled\n")}, &pgproto3.CopyDone{})
			got := r.until("ReadyForQuery")
			want(t, sql, got, "ErrorResponse ERROR 42501", "ReadyForQuery I")
		}
		r.send(&pgproto3.CopyFail{Message: "never mind"})
		r.alive()
		var n int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM public.scratch").Scan(&n); err != nil || n != 0 {
			t.Fatalf("scratch holds %d rows (%v)", n, err)
		}
	})

	t.Run("large statement", func(t *testing.T) {
		r := rawSession(t, st, "alice")
		half := "SELECT 1 /* " + strings.Repeat("x", 512<<10) + " */"
		want(t, "512 KiB statement", r.query(half), "RowDescription", "DataRow 1", "CommandComplete SELECT 1", "ReadyForQuery I")
		// Just under the 1 MiB cap: read, judged, run and recorded, its
		// sealed detail journaled beside its entry.
		big := "SELECT 1 /* " + strings.Repeat("x", 1<<20-64) + " */"
		want(t, "1 MiB statement", r.query(big), "RowDescription", "DataRow 1", "CommandComplete SELECT 1", "ReadyForQuery I")
		r.alive()
		// Just over: the session is ended, the gateway goes on.
		r.send(&pgproto3.Query{String: big + strings.Repeat(" ", 100)})
		if !r.closed() {
			t.Fatal("a Query over the cap was read")
		}
		lawful(t, connect(t, st, "alice", ""))
	})

	t.Run("oversized message", func(t *testing.T) {
		// Above the 1 MiB cap: refused without being read.
		r := rawSession(t, st, "alice")
		hdr := []byte{'Q', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(hdr[1:], 64<<20)
		r.conn.Write(hdr)
		if !r.closed() {
			t.Fatal("a 64 MiB Query header was waited on")
		}
	})
}

// TestProtocolPipeline: the extended protocol pipelined with Flush, not
// Sync, and an error in the middle of a pipeline: as PostgreSQL does, the
// gateway answers up to the error, then skips every message up to Sync.
func TestProtocolPipeline(t *testing.T) {
	st := teststack.Start(t, 200)
	r := rawSession(t, st, "alice")
	const q = "SELECT city FROM addresses WHERE address_id = $1"
	bind := func(portal, stmt, param string) *pgproto3.Bind {
		return &pgproto3.Bind{DestinationPortal: portal, PreparedStatement: stmt, Parameters: [][]byte{[]byte(param)}}
	}

	// Flush: responses come without a Sync.
	r.send(&pgproto3.Parse{Name: "s1", Query: q}, bind("", "s1", "1"), &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Flush{})
	want(t, "pipeline with Flush", r.until("CommandComplete"), "ParseComplete", "BindComplete", "RowDescription", "DataRow", "CommandComplete SELECT 1")
	// More of the same batch, then Flush again.
	r.send(bind("", "s1", "2"), &pgproto3.Execute{}, &pgproto3.Flush{})
	want(t, "second Flush", r.until("CommandComplete"), "BindComplete", "DataRow", "CommandComplete SELECT 1")
	r.send(&pgproto3.Sync{})
	want(t, "Sync", r.until("ReadyForQuery"), "ReadyForQuery I")

	// A backend error in the middle (a parameter that is not an integer):
	// everything after it up to Sync is skipped, Flush or not.
	r.send(bind("", "s1", "3"), &pgproto3.Execute{},
		bind("", "s1", "not a number"), &pgproto3.Execute{},
		&pgproto3.Parse{Name: "s2", Query: q}, bind("", "s1", "4"), &pgproto3.Execute{}, &pgproto3.Flush{})
	want(t, "backend error mid-pipeline", r.until("ErrorResponse"), "BindComplete", "DataRow", "CommandComplete SELECT 1", "ErrorResponse ERROR 22P02")
	r.send(bind("", "s1", "5"), &pgproto3.Execute{}, &pgproto3.Sync{})
	want(t, "skipped to Sync", r.until("ReadyForQuery"), "ReadyForQuery I")
	// s2 was skipped: it does not exist.
	r.send(bind("", "s2", "1"), &pgproto3.Execute{}, &pgproto3.Sync{})
	want(t, "skipped Parse", r.until("ReadyForQuery"), "ErrorResponse ERROR 26000", "ReadyForQuery I")

	// A denial in the middle: the same.
	r.send(bind("", "s1", "6"), &pgproto3.Execute{},
		&pgproto3.Parse{Name: "bad", Query: "SELECT pg_read_file('/etc/hostname')"}, &pgproto3.Bind{PreparedStatement: "bad"}, &pgproto3.Execute{},
		bind("", "s1", "7"), &pgproto3.Execute{}, &pgproto3.Flush{})
	want(t, "denial mid-pipeline", r.until("ErrorResponse"), "BindComplete", "DataRow", "CommandComplete SELECT 1", "ErrorResponse ERROR 42501")
	r.send(&pgproto3.Sync{})
	want(t, "after the denial", r.until("ReadyForQuery"), "ReadyForQuery I")

	// An error inside an explicit transaction: the transaction is failed
	// until ROLLBACK, as in PostgreSQL.
	want(t, "BEGIN", r.query("BEGIN"), "CommandComplete BEGIN", "ReadyForQuery T")
	r.send(bind("", "s1", "x"), &pgproto3.Execute{}, &pgproto3.Sync{})
	want(t, "error in a transaction", r.until("ReadyForQuery"), "ErrorResponse ERROR 22P02", "ReadyForQuery E")
	r.send(bind("", "s1", "1"), &pgproto3.Execute{}, &pgproto3.Sync{})
	want(t, "failed transaction", r.until("ReadyForQuery"), "ErrorResponse ERROR 25P02", "ReadyForQuery E")
	want(t, "ROLLBACK", r.query("ROLLBACK"), "CommandComplete ROLLBACK", "ReadyForQuery I")
	r.alive()
}

// TestProtocolTerminate: a client that sends Terminate while its statement
// runs, and hangs up, leaves nothing behind: the backend session ends and
// no goroutine is left.
func TestProtocolTerminate(t *testing.T) {
	st := teststack.Start(t, 200)
	ctx := context.Background()
	admin := st.Admin(t)
	gw := st.Service.Gateway()
	settle := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not settle", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	backends := func() int {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'custodes:%'`,
			st.Config.BackendDatabase()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Warm up (pools, caches), then count the goroutines at rest.
	r := rawSession(t, st, "alice")
	r.alive()
	r.send(&pgproto3.Terminate{})
	r.closed()
	settle("warm-up session", func() bool { return gw.Sessions() == 0 && backends() == 0 })
	time.Sleep(200 * time.Millisecond)
	base := runtime.NumGoroutine()

	const rounds = 5
	for i := range rounds {
		r := rawSession(t, st, "alice")
		sleep := fmt.Sprintf("SELECT pg_sleep(%d.%d)", 1, i)
		r.send(&pgproto3.Query{String: sleep})
		// Wait until it runs in the backend, then Terminate and hang up.
		settle("the statement starting", func() bool {
			var n int
			admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'`, sleep).Scan(&n)
			return n == 1
		})
		if i%2 == 0 {
			r.send(&pgproto3.Terminate{})
			r.conn.Close()
		} else {
			// Terminate, but stay to read: the statement's result, then
			// the gateway hangs up.
			r.send(&pgproto3.Terminate{})
			got := r.until("ReadyForQuery")
			want(t, "Terminate after a running statement", got, "RowDescription", "DataRow", "CommandComplete SELECT 1", "ReadyForQuery I")
			if !r.closed() {
				t.Fatal("the gateway did not hang up after Terminate")
			}
		}
	}
	settle("sessions", func() bool { return gw.Sessions() == 0 })
	settle("backend sessions", func() bool { return backends() == 0 })
	settle(fmt.Sprintf("goroutines (at rest %d)", base), func() bool { return runtime.NumGoroutine() <= base+1 })
	lawful(t, connect(t, st, "alice", ""))
}
