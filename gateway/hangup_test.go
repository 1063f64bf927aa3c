package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/internal/teststack"
)

// TestHangupCancels: a client that hangs up while its statement runs (no
// CancelRequest, just the socket closed) gets its backend query cancelled
// within a few seconds, instead of the backend working on for nobody until
// the statement ends.
func TestHangupCancels(t *testing.T) {
	st := teststack.Start(t, 200)
	ctx := context.Background()
	admin := st.Admin(t)
	running := func() int {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(31)%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	r := rawSession(t, st, "alice")
	r.send(&pgproto3.Query{String: "SELECT pg_sleep(31)"})
	for deadline := time.Now().Add(5 * time.Second); running() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the statement never started on the backend")
		}
	}
	r.conn.Close()
	start := time.Now()
	for running() > 0 {
		if time.Since(start) > 6*time.Second {
			t.Fatal("the backend query runs on 6 s after its client hung up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the backend query stopped %v after the client hung up", time.Since(start).Round(10*time.Millisecond))
	lawful(t, connect(t, st, "alice", ""))
}
