//go:build linux

package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/record"
)

// TestCancelDuringHold: a CancelRequest while the gateway holds a
// statement's rows (results are held until the statement's entry is
// durable) ends the statement as PostgreSQL would — the rows produced so
// far, then 57014 — and what reached the client is on the record: one allowed
// entry with its rows. The session goes on; the backend query is gone.
func TestCancelDuringHold(t *testing.T) {
	st := teststack.Start(t, 200)
	ctx := context.Background()
	admin := st.Admin(t)
	// 64 KB of rows, which PostgreSQL sends before the second branch
	// sleeps, so the gateway holds them while the statement runs.
	const sql = "SELECT repeat('x', 1000) FROM generate_series(1, 64) UNION ALL SELECT pg_sleep(30)::text"

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			c := connect(t, st, "alice", "")
			before := faultLog(t, st.LogDir, st.VKey, func(map[uint64]*record.Entry) error { return nil })

			// The client's own CancelRequest, a second in (a context's
			// deadline would make pgx stop reading and report the deadline).
			start := time.Now()
			timer := time.AfterFunc(time.Second, func() {
				if err := c.PgConn().CancelRequest(ctx); err != nil {
					t.Errorf("CancelRequest: %v", err)
				}
			})
			defer timer.Stop()
			rows, err := c.Query(ctx, sql, mode)
			got := 0
			var first time.Duration
			if err == nil {
				for rows.Next() {
					if got == 0 {
						first = time.Since(start)
					}
					got++
				}
				rows.Close()
				err = rows.Err()
			}
			took := time.Since(start)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "57014" {
				t.Fatalf("cancelled after %v: %d rows, %v; want 57014", took.Round(time.Millisecond), got, err)
			}
			if took > 10*time.Second {
				t.Errorf("the cancel took %v", took)
			}
			t.Logf("cancelled after %v: %d rows reached the client, the first after %v, then %s", took.Round(time.Millisecond), got, first.Round(time.Millisecond), pe.Code)
			if got == 0 || first < 900*time.Millisecond {
				t.Errorf("the rows were not held until the statement ended: the first of %d came after %v", got, first)
			}

			// One more allowed statement with the rows the client got, and
			// no denial. (The previous subtest's SELECT 1 may be published
			// only now: one row.)
			faultLog(t, st.LogDir, st.VKey, func(es map[uint64]*record.Entry) error {
				held, other := 0, 0
				for i, e := range es {
					switch {
					case before[i] != nil || e.Kind != record.KindStatement:
					case e.Decision == "allow" && e.Rows == uint64(got):
						held++
					case e.Decision == "allow" && e.Rows == 1:
					default:
						other++
					}
				}
				if held != 1 || other != 0 {
					return fmt.Errorf("%d allowed entries with %d rows and %d other statement entries added, want one and none", held, got, other)
				}
				return nil
			})

			// The backend query is gone, and the session goes on.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				var n int
				if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the backend query still runs")
				}
			}
			var one int
			if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("after the cancel: %d, %v", one, err)
			}
		})
	}
}
