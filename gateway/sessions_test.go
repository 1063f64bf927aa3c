package gateway_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/internal/teststack"
)

// TestSessionCap: past max_sessions a connection is refused at start-up
// with 53300, before authentication, and the sessions already open go on;
// once one closes, a new one is served.
func TestSessionCap(t *testing.T) {
	st := teststack.Start(t, 200, func(c *config.Config) { c.MaxSessions = 2 })
	a := connect(t, st, "alice", "")
	b := connect(t, st, "bob", "")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := pgx.Connect(ctx, st.URL("carol"))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "53300" {
		t.Fatalf("third session: %v, want SQLSTATE 53300", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refusal took %v", d)
	}
	lawful(t, a)
	lawful(t, b)

	b.Close(ctx)
	var c *pgx.Conn
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err = pgx.Connect(ctx, st.URL("carol")); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("after one session closed: %v", err)
	}
	c.Close(ctx)
}
