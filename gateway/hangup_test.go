package gateway_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/internal/teststack"
)

// TestHangupCancels: a client that hangs up while its statement runs (no
// CancelRequest, just the socket closed), over plain TCP or TLS, gets its
// backend query cancelled within a few seconds, instead of the backend
// working on for nobody until the statement ends.
func TestHangupCancels(t *testing.T) {
	p := newPKI(t)
	st := teststack.Start(t, 200, withTLS(p, false))
	ctx := context.Background()
	admin := st.Admin(t)
	running := func() int {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(31)%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// stopped waits for the backend query to end after the client hung up.
	stopped := func(t *testing.T) {
		t.Helper()
		start := time.Now()
		for running() > 0 {
			if time.Since(start) > 6*time.Second {
				t.Fatal("the backend query runs on 6 s after its client hung up")
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("the backend query stopped %v after the client hung up", time.Since(start).Round(10*time.Millisecond))
	}
	started := func(t *testing.T) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); running() == 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the statement never started on the backend")
			}
		}
	}

	t.Run("plain TCP", func(t *testing.T) {
		r := rawSession(t, st, "alice")
		r.send(&pgproto3.Query{String: "SELECT pg_sleep(31)"})
		started(t)
		r.conn.Close()
		stopped(t)
	})

	t.Run("TLS", func(t *testing.T) {
		// A TLS client sends close_notify before its FIN: the gateway sees
		// the FIN behind it. (Raw, because pgx sends a CancelRequest of
		// its own when its connection breaks.)
		r := dialRaw(t, st.Addr)
		r.upgrade(&tls.Config{RootCAs: p.CAPool, ServerName: "localhost"})
		r.login("alice", st.Config.BackendDatabase())
		r.send(&pgproto3.Query{String: "SELECT pg_sleep(31)"})
		started(t)
		r.conn.Close() // close_notify, then FIN
		stopped(t)
	})
	lawful(t, connect(t, st, "alice", ""))
}
