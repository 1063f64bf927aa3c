package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custodes/custodes/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testCeiling starts a ceiling in front of the shared test cluster.
func testCeiling(t *testing.T) *ceiling {
	c := pgtest.Cluster(t)
	relay, err := startCeiling(net.JoinHostPort(c.Host(), fmt.Sprint(c.Port())), filepath.Join(t.TempDir(), "journal"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(relay.stop)
	return relay
}

// The ceiling relays pgbench's flows — SCRAM start-up, simple queries,
// extended batches ending in Sync — and every reply waits for a durable
// record.
func TestCeilingRelays(t *testing.T) {
	relay := testCeiling(t)

	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = relay.addr
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("couldn't connect through the ceiling: %v", err)
	}
	defer conn.Close(ctx)

	s0, r0 := relay.stats()
	var n int
	// Extended protocol (Parse, Describe, Sync, then Bind, Execute, Sync).
	if err := conn.QueryRow(ctx, "SELECT $1::int + 1", 41).Scan(&n); err != nil || n != 42 {
		t.Fatalf("extended query through the ceiling: %d, %v", n, err)
	}
	// Simple protocol.
	if err := conn.QueryRow(ctx, "SELECT 7", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 7 {
		t.Fatalf("simple query through the ceiling: %d, %v", n, err)
	}
	// An error from the database is relayed, and the session goes on.
	if _, err := conn.Exec(ctx, "SELECT 1/0"); err == nil {
		t.Fatal("division by zero went through without an error")
	}
	if err := conn.QueryRow(ctx, "SELECT 8", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 8 {
		t.Fatalf("query after an error: %d, %v", n, err)
	}
	s1, r1 := relay.stats()
	// Each batch ending in Sync or a Query waited for one record.
	if r1-r0 < 4 || s1 <= s0 {
		t.Errorf("records made durable: %d in %d fdatasyncs; want at least 4 in at least 1", r1-r0, s1-s0)
	}
}

// A client that asks for SSL is refused, not relayed half-way.
func TestCeilingRefusesSSLRequest(t *testing.T) {
	relay := testCeiling(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=require&connect_timeout=10", relay.addr)
	if conn, err := pgx.Connect(ctx, u); err == nil {
		conn.Close(ctx)
		t.Fatal("an SSL connection through the ceiling succeeded")
	}
}
