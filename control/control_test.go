package control_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open returns a migrated control database, and a second connection to it
// standing for another process (the operator's CLI).
func open(t *testing.T) (*control.DB, *pgx.Conn) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	other, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(context.Background()) })
	if err := control.Migrate(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	db, err := control.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db, other
}

// eventually polls f for up to two seconds.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("%s: not within 2s", what)
}

// TestWatchHearsOtherProcesses: with Watch, suspensions and revocations made
// over another connection reach cached reads through NOTIFY; ones made
// through db itself apply to the very next read.
func TestWatchHearsOtherProcesses(t *testing.T) {
	db, other := open(t)
	ctx := t.Context()
	db.Watch(ctx, slog.New(slog.DiscardHandler))

	suspended := func() bool {
		s, _, err := db.Suspension(ctx, "agency", "newark")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Let the listener connect, and the cache fill.
	time.Sleep(200 * time.Millisecond)
	if suspended() {
		t.Fatal("suspended before anyone suspended it")
	}
	if _, err := other.Exec(ctx, `INSERT INTO custodes.suspensions (tenant, unit, reason) VALUES ('agency', 'newark', 'test')`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "another process's suspension", suspended)

	if _, err := db.Resume(ctx, "agency", "newark"); err != nil {
		t.Fatal(err)
	}
	if suspended() {
		t.Fatal("still suspended on the read right after Resume through db")
	}

	now := time.Now()
	a := &control.Authority{ID: "W-1", Kind: "judicial_warrant", Reference: "r", Tenant: "agency", Unit: "newark",
		Datasets: []string{"*"}, Subjects: []int64{101}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), Approver: "a"}
	if _, err := db.InsertAuthority(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Authority(ctx, "W-1"); err != nil || got.Status != "active" {
		t.Fatalf("Authority after insert: %+v %v", got, err)
	}
	if _, err := other.Exec(ctx, `UPDATE custodes.authorities SET status = 'revoked' WHERE id = 'W-1'`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "another process's revocation", func() bool {
		got, err := db.Authority(ctx, "W-1")
		return err == nil && got.Status == "revoked"
	})
}

// TestStorePrivateIdempotent: storing the same private records twice (a
// journal replay) keeps one detail and the latest sighting.
func TestStorePrivateIdempotent(t *testing.T) {
	db, _ := open(t)
	ctx := t.Context()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	ps := []*control.Private{
		{Commitment: [32]byte{1}, Sealed: []byte("sealed 1"), Tenant: "agency", Unit: "newark", Tokens: []string{"a", "b"}, Seen: t0},
		{Commitment: [32]byte{2}, Sealed: []byte("sealed 2"), Tenant: "agency", Unit: "newark", Tokens: []string{"b"}, Seen: t0.Add(time.Minute)},
	}
	for range 2 {
		if err := db.StorePrivate(ctx, ps); err != nil {
			t.Fatal(err)
		}
	}
	b, err := control.ParsePrivate(must(ps[1].Marshal()))
	if err != nil || b.Commitment != ps[1].Commitment || string(b.Sealed) != "sealed 2" || !b.Seen.Equal(ps[1].Seen) {
		t.Fatalf("round trip: %+v %v", b, err)
	}
	if body, err := db.Detail(ctx, [32]byte{2}); err != nil || string(body) != "sealed 2" {
		t.Fatalf("Detail = %q, %v", body, err)
	}
	ss, err := db.Sightings(ctx, "agency", t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, s := range ss {
		got[s.Token] = s.Seen
	}
	if len(ss) != 2 || !got["a"].Equal(t0) || !got["b"].Equal(t0.Add(time.Minute)) {
		t.Fatalf("sightings = %+v", ss)
	}
	c, err := db.Coverage(ctx, "agency", "newark", []string{"c"}, 24*time.Hour)
	if err != nil || c.Unit != 3 {
		t.Fatalf("Coverage with one more = %+v, %v; want 3", c, err)
	}
	// An older sighting replayed later does not move last_seen back.
	if err := db.StorePrivate(ctx, []*control.Private{{Commitment: [32]byte{3}, Sealed: []byte("x"), Tenant: "agency", Unit: "newark", Tokens: []string{"b"}, Seen: t0}}); err != nil {
		t.Fatal(err)
	}
	ss, _ = db.Sightings(ctx, "agency", t0.Add(30*time.Second))
	if len(ss) != 1 || ss[0].Token != "b" {
		t.Fatalf("after an older replay: %+v", ss)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
