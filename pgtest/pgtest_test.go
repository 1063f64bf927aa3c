package pgtest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/custodes/custodes/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func currentDatabase(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var db string
	if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestNewDatabaseIsolated(t *testing.T) {
	a := connect(t, pgtest.NewDatabase(t))
	b := connect(t, pgtest.NewDatabase(t))
	if da, db := currentDatabase(t, a), currentDatabase(t, b); da == db {
		t.Fatalf("both databases are %q", da)
	}
	if _, err := a.Exec(t.Context(), "CREATE TABLE only_in_a (n int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(t.Context(), "SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("a table created in one database is visible in the other")
	}
	var tables int
	if err := a.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 1 {
		t.Errorf("new database has %d public tables; want only ours", tables)
	}
}

func TestNewDatabaseDroppedAtCleanup(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		conn := connect(t, pgtest.NewDatabase(t)) // left open: the drop must force it
		name = currentDatabase(t, conn)
	})
	if name == "" {
		t.Fatal("subtest did not report its database")
	}
	if !strings.Contains(name, "user") {
		t.Errorf("database name %q does not mention the test", name)
	}
	conn := connect(t, pgtest.Cluster(t).SuperuserURL("postgres"))
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestClusterShared(t *testing.T) {
	if pgtest.Cluster(t) != pgtest.Cluster(t) {
		t.Error("Cluster returned two different clusters")
	}
}
