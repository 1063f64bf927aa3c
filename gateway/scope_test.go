package gateway_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodes/custodes/internal/teststack"
)

func ids(t *testing.T, c *pgx.Conn, sql string, args ...any) []int64 {
	t.Helper()
	rows, err := c.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// backendRole connects straight to the agency database with the gateway's
// backend credentials, around the gateway.
func backendRole(t *testing.T, st *teststack.Stack) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), st.Config.Backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestTargetedScope(t *testing.T) {
	st := teststack.Start(t, 2500)
	ctx := context.Background()

	t.Run("warrant: the database returns exactly its subjects", func(t *testing.T) {
		c := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
		for _, sql := range []string{
			"SELECT person_id FROM persons ORDER BY 1",
			"SELECT DISTINCT person_id FROM location_pings ORDER BY 1",
			"SELECT p.person_id FROM persons p JOIN case_files c USING (person_id) GROUP BY 1 ORDER BY 1",
			"SELECT person_id FROM persons WHERE person_id IN (SELECT person_id FROM utility_accounts) ORDER BY 1",
			"WITH x AS (SELECT person_id, full_name FROM persons) SELECT person_id FROM x ORDER BY 1",
		} {
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
				got := ids(t, c, sql, mode)
				if !slices.Equal(got, []int64{101, 102, 103}) {
					t.Errorf("%s (mode %v): got %v, want [101 102 103]", sql, mode, got)
				}
			}
		}
		// An aggregate hides the key, but the database scopes what it counts.
		if got := ids(t, c, "SELECT count(*) FROM persons"); !slices.Equal(got, []int64{3}) {
			t.Errorf("count(*) under W-DEMO-1 = %v, want [3]", got)
		}
	})

	t.Run("capped lead: the result guard stops bulk results", func(t *testing.T) {
		c := connect(t, st, "alice", "-c custodes.authority=L-DEMO-2")
		got := ids(t, c, "SELECT person_id FROM persons WHERE person_id IN (1, 2, 3) ORDER BY 1")
		if !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("3 subjects under a cap of 5: %v", got)
		}
		for _, sql := range []string{
			"SELECT person_id, full_name FROM persons",
			"SELECT person_id FROM persons WHERE person_id < 50",
			"SELECT full_name FROM persons WHERE person_id < 50",
			"SELECT string_agg(full_name, ',') FROM persons",
			"SELECT count(*) FROM persons",
			"SELECT person_id, (SELECT string_agg(full_name, ',') FROM persons) FROM persons WHERE person_id = 1",
		} {
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
				rows, err := c.Query(ctx, sql, mode)
				n := 0
				if err == nil {
					for rows.Next() {
						n++
					}
					err = rows.Err()
				}
				if n != 0 {
					t.Errorf("%s (mode %v): %d rows reached the client", sql, mode, n)
				}
				wantDenied(t, err, "AUP-3")
			}
		}
	})

	t.Run("the backend role alone sees nothing", func(t *testing.T) {
		// Whoever goes around the gateway with its backend credentials gets
		// no person-level row: the scope is the database's.
		c := backendRole(t, st)
		if got := ids(t, c, "SELECT count(*) FROM persons"); !slices.Equal(got, []int64{0}) {
			t.Errorf("direct count(*) = %v, want [0]", got)
		}
		if _, err := c.Exec(ctx, "SET row_security = off"); err != nil {
			t.Fatal(err)
		}
		_, err := c.Exec(ctx, "SELECT * FROM persons")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("with row_security off the query must fail, got %v", err)
		}
		for _, sql := range []string{"SELECT * FROM custodes_scope.sessions", "INSERT INTO custodes_scope.sessions VALUES (1, now(), true, '{}')"} {
			if _, err := c.Exec(ctx, sql); err == nil {
				t.Errorf("%s: the backend role reached the scope table", sql)
			}
		}
	})

	t.Run("a scope row of the same pid binds only the backend with its key", func(t *testing.T) {
		// As a row left by a crashed gateway would be, for a pid reused by
		// a backend someone opened around the gateway.
		c := backendRole(t, st)
		var pid int32
		if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		admin := st.Admin(t)
		if _, err := admin.Exec(ctx, `INSERT INTO custodes_scope.sessions (pid, started, key, unrestricted)
			SELECT $1, backend_start, 'left-behind', true FROM pg_stat_activity WHERE pid = $1`, pid); err != nil {
			t.Fatal(err)
		}
		defer admin.Exec(ctx, "DELETE FROM custodes_scope.sessions WHERE pid = $1", pid)
		if got := ids(t, c, "SELECT count(*) FROM persons"); !slices.Equal(got, []int64{0}) {
			t.Errorf("without the row's key: count(*) = %v, want [0]", got)
		}
		// The key is what binds: with it (which only the gateway and the
		// control role ever know) the row is in force.
		if _, err := c.Exec(ctx, "SET custodes.scope_key = 'left-behind'"); err != nil {
			t.Fatal(err)
		}
		if got := ids(t, c, "SELECT count(*) FROM persons"); slices.Equal(got, []int64{0}) {
			t.Errorf("with the row's key: count(*) = %v, want every person", got)
		}
	})

	t.Run("the analyst cannot set the scope key", func(t *testing.T) {
		c := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
		for _, sql := range []string{"SET custodes.scope_key = 'x'", "SELECT set_config('custodes.scope_key', 'x', false)", "RESET custodes.scope_key"} {
			_, err := c.Exec(ctx, sql)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42501" {
				t.Errorf("%s: %v, want a denial", sql, err)
			}
		}
		if got := ids(t, c, "SELECT person_id FROM persons ORDER BY 1"); !slices.Equal(got, []int64{101, 102, 103}) {
			t.Errorf("after the attempts: %v, want [101 102 103]", got)
		}
	})
}

func TestCoverageCap(t *testing.T) {
	st := teststack.Start(t, 2500)
	ctx := context.Background()
	c := connect(t, st, "bob", "-c custodes.authority=L-DEMO-2")
	received := 0
	for i := 0; i < 60; i++ {
		first := 1000 + 5*i // five new people each time: salami slicing
		rows, err := c.Query(ctx, "SELECT person_id FROM persons WHERE person_id IN ($1, $2, $3, $4, $5)", first, first+1, first+2, first+3, first+4)
		n := 0
		if err == nil {
			for rows.Next() {
				n++
			}
			err = rows.Err()
		}
		received += n
		if err != nil {
			wantDenied(t, err, "AUP-6")
			if received != 200 {
				t.Fatalf("stopped after %d distinct subjects, want exactly the cap of 200", received)
			}
			// Subjects the unit has already seen remain reachable.
			if got := ids(t, c, "SELECT person_id FROM persons WHERE person_id = $1", 1000); len(got) != 1 {
				t.Fatalf("a subject already covered: %v", got)
			}
			// Coverage is per unit: carol's houston is untouched.
			h := connect(t, st, "carol", "-c custodes.authority=W-DEMO-3")
			if got := ids(t, h, "SELECT person_id FROM persons"); !slices.Equal(got, []int64{2001}) {
				t.Fatalf("houston: %v", got)
			}
			return
		}
	}
	t.Fatalf("received %d distinct subjects without being stopped", received)
}

func TestProtectedAttributes(t *testing.T) {
	st := teststack.Start(t, 2500)
	c := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	for _, sql := range []string{
		"SELECT religion FROM persons WHERE person_id = 101",
		"SELECT full_name FROM persons WHERE religion = 'Muslim'",
		"SELECT full_name FROM persons WHERE person_id = 101 ORDER BY ethnicity",
		"SELECT count(*) FROM persons GROUP BY ethnicity",
		"SELECT * FROM persons WHERE person_id = 101",
		"SELECT p.* FROM persons p WHERE person_id = 101",
		"WITH x AS (SELECT * FROM persons) SELECT person_id FROM x WHERE person_id = 101",
		"SELECT row_to_json(p) FROM persons p WHERE person_id = 101",
		"SELECT full_name FROM persons p JOIN (SELECT religion FROM persons) r ON r.religion = 'x'",
		"SELECT full_name FROM persons WHERE person_id IN (SELECT person_id FROM persons WHERE ethnicity = 'x')",
	} {
		t.Run(sql, func(t *testing.T) { wantDenied(t, simple(c, sql), "AUP-5") })
	}
	if got := names(t, c, "SELECT full_name FROM persons WHERE person_id = $1", 101); len(got) != 1 {
		t.Fatalf("a read without protected attributes: %v", got)
	}
}
