package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/pgtest"
	"github.com/custodes/custodes/sampler"
	"github.com/custodes/custodes/service"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStorageHistory: the storage sampler's history after a restart comes
// from the control database's pointers into the log, each entry proven
// included in the log's checkpoint, without reading the whole log; a
// pointer to anything but the attestation it names finds nothing; and a
// control database that never indexed the log (one from before the
// pointers) gets the log read once, whole, and indexed.
func TestStorageHistory(t *testing.T) {
	st := teststack.Start(t, 200)
	ctx := context.Background()
	svc := st.Service
	for range 3 {
		if err := svc.SampleStorage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	since := time.Now().Add(-time.Hour)
	scans := service.LogScans()
	// Each entry is proven against the published checkpoint, which follows
	// the appends within a second or so.
	var hist []*sampler.Sample
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if hist, err = svc.StorageHistory(ctx, since); err != nil {
			t.Fatal(err)
		}
		if len(hist) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attestations in the history after 10s, want at least the 3 taken", len(hist))
		}
	}
	if n := service.LogScans() - scans; n != 0 {
		t.Errorf("the history read the whole log %d times; the pointers should have sufficed", n)
	}
	n := len(hist)

	// Pointers the log does not bear out: to a statement, and past its end.
	ctl, err := pgx.Connect(ctx, st.Config.Control.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close(ctx)
	if _, err := ctl.Exec(ctx, `INSERT INTO custodes.storage_attestations (tenant, entry, at)
		SELECT tenant, 0, now() FROM custodes.storage_indexed
		UNION ALL SELECT tenant, 1 << 40, now() FROM custodes.storage_indexed`); err != nil {
		t.Fatal(err)
	}
	if hist, err = svc.StorageHistory(ctx, since); err != nil || len(hist) != n {
		t.Errorf("with two false pointers: %d attestations (%v), want the %d true ones", len(hist), err, n)
	}

	// A control database that never indexed the log.
	if _, err := ctl.Exec(ctx, `TRUNCATE custodes.storage_attestations, custodes.storage_indexed`); err != nil {
		t.Fatal(err)
	}
	scans = service.LogScans()
	if hist, err = svc.StorageHistory(ctx, since); err != nil || len(hist) != n {
		t.Fatalf("unindexed: %d attestations (%v), want %d", len(hist), err, n)
	}
	if got := service.LogScans() - scans; got != 1 {
		t.Errorf("unindexed: the log was read whole %d times, want once", got)
	}
	var indexed int
	if err := ctl.QueryRow(ctx, `SELECT count(*) FROM custodes.storage_attestations`).Scan(&indexed); err != nil || indexed != n {
		t.Errorf("after reading the log, %d attestations indexed (%v), want %d", indexed, err, n)
	}
	scans = service.LogScans()
	if hist, err = svc.StorageHistory(ctx, since); err != nil || len(hist) != n || service.LogScans() != scans {
		t.Errorf("indexed again: %d attestations (%v), %d whole reads; want %d, none", len(hist), err, service.LogScans()-scans, n)
	}
}
