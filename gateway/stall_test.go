package gateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/internal/teststack"
)

// TestBackendStall: a backend that stalls in the middle of a statement (here
// it waits on a lock another session holds, as it would on a hung disk or
// a long lock) is bounded by the statement_timeout the operator puts in
// backend.url's options: the client gets the timeout's SQLSTATE, with the
// database's text withheld, and its session goes on once the stall ends.
func TestBackendStall(t *testing.T) {
	st := teststack.Start(t, 200, func(c *config.Config) {
		c.Backend.URL += "&options=-c%20statement_timeout%3D700"
	})
	ctx := context.Background()
	locker := st.Admin(t)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE persons IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	c := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	var show string
	if err := c.QueryRow(ctx, "SHOW statement_timeout").Scan(&show); err != nil || show != "700ms" {
		t.Fatalf("the backend session's statement_timeout is %q (%v), want backend.url's 700ms", show, err)
	}

	// Over the simple protocol the stall is in the statement, whose error
	// is scrubbed; over the extended one it is in its Parse (the lock is
	// taken while the statement is analysed), which reads no rows.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		var name string
		err = c.QueryRow(qctx, "SELECT full_name FROM persons WHERE person_id = 101", mode).Scan(&name)
		took := time.Since(start)
		cancel()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" {
			t.Fatalf("%v: a read stalled behind a lock: %v after %v, want SQLSTATE 57014 (statement_timeout)", mode, err, took)
		}
		if took > 5*time.Second {
			t.Errorf("%v: the stall ended after %v, want about 700ms", mode, took)
		}
		if mode == pgx.QueryExecModeSimpleProtocol && !strings.Contains(pe.Message, "withheld") {
			t.Errorf("%v: the stalled statement's error %q: want the database's text withheld", mode, pe.Message)
		}
		t.Logf("%v: the stalled read ended after %v: %s", mode, took.Round(time.Millisecond), pe.Message)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := c.QueryRow(ctx, "SELECT full_name FROM persons WHERE person_id = 101").Scan(&name); err != nil || name == "" {
		t.Fatalf("after the stall: %q %v", name, err)
	}
}
