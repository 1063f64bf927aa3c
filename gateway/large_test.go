package gateway_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/internal/teststack"
)

// TestLargeRows: a row under the hold limit (64 MiB) is relayed whole; a
// single row over it is stopped and recorded, ends the session (the backend
// stream stops mid-message), and is never read into the gateway's memory.
func TestLargeRows(t *testing.T) {
	st := teststack.Start(t, 200)
	ctx := context.Background()
	c := connect(t, st, "alice", "")

	var s string
	if err := c.QueryRow(ctx, "SELECT repeat('x', 8 * 1024 * 1024)").Scan(&s); err != nil || len(s) != 8<<20 {
		t.Fatalf("an 8 MiB row: %d bytes, %v", len(s), err)
	}

	// The gateway runs in this process: had it read the row, this process
	// would have allocated its 65 MiB.
	r := rawSession(t, st, "alice")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r.send(&pgproto3.Query{String: "SELECT repeat('x', 65 * 1024 * 1024)"})
	got := r.until("ErrorResponse FATAL")
	runtime.ReadMemStats(&after)
	// Denied and recorded, then the session's end with its reason; no row,
	// no RowDescription.
	want(t, "a 65 MiB row", got, "ErrorResponse ERROR 42501: custodes: denied by AUP-9",
		"ErrorResponse FATAL 54000: custodes: the database sent a row larger than 64 MiB")
	if !r.closed() {
		t.Error("the session is still open")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 32<<20 {
		t.Errorf("%d MiB allocated while the gateway stopped a 65 MiB row: it read the row", n>>20)
	}

	// Others are served.
	c2 := connect(t, st, "alice", "")
	if err := c2.QueryRow(ctx, "SELECT repeat('y', 3)").Scan(&s); err != nil || s != "yyy" {
		t.Fatalf("a new session: %q, %v", s, err)
	}
}
