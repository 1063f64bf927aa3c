package service

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/console"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

// TestAlertsFromTheLog writes a real log with the patterns the alerts watch
// for and checks each is raised: an authority used far beyond its scope,
// and bulk attempts outside working hours.
func TestAlertsFromTheLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	skey, vkey, err := translog.GenerateKey("alerts.custodes/agency")
	if err != nil {
		t.Fatal(err)
	}
	l, err := translog.Open(ctx, translog.Options{Dir: dir, SignerKey: skey, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	add := func(e *record.Entry) {
		e.Tenant = "agency"
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	lead := strings.Repeat("ab", 32)
	now := time.Now().UTC().Truncate(time.Microsecond)
	add(&record.Entry{Kind: record.KindAuthorityIssued, Time: now, Unit: "newark", AuthorityKind: "administrative", Authority: lead,
		Attrs: []record.Attr{{Key: "max_subjects", Value: "5"}}})
	for i := range 12 { // 60 distinct subjects under a lead for 5
		var tokens []string
		for k := range 5 {
			tokens = append(tokens, fmt.Sprintf("%016x", i*5+k+1))
		}
		add(&record.Entry{Kind: record.KindStatement, Time: now, Unit: "newark", Analyst: "a1b2c3d4e5f60708", AuthorityKind: "administrative",
			Authority: lead, Class: "read", Decision: "allow", Rows: 5, Subjects: 5, SubjectTokens: tokens})
	}
	night := time.Date(now.Year(), now.Month(), now.Day(), 2, 30, 0, 0, time.UTC)
	if night.After(now) {
		night = night.Add(-24 * time.Hour)
	}
	for range 3 {
		add(&record.Entry{Kind: record.KindStatement, Time: night, Unit: "houston", Analyst: "0807f6e5d4c3b2a1", Class: "read", Decision: "deny", Rules: []string{"AUP-3"}})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	s := &Service{cfg: &config.Config{Tenant: config.Tenant{Name: "agency", Units: []config.Unit{{Name: "newark"}, {Name: "houston"}}},
		Coverage: config.Coverage{UnitCap: 200, TenantCap: 1000, Window: config.Duration{Duration: 30 * 24 * time.Hour}}}}
	d := &consoleData{Service: s, idx: newLogIndex(dir, vkey)}
	alerts, err := d.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	find := func(kind string) *console.Alert {
		for i := range alerts {
			if alerts[i].Kind == kind {
				return &alerts[i]
			}
		}
		return nil
	}
	if a := find("authority_use"); a == nil || !strings.Contains(a.Detail, "60 distinct subjects, 12× the 5") {
		t.Errorf("authority_use alert: %+v (all: %+v)", a, alerts)
	}
	if a := find("after_hours"); a == nil || a.Unit != "houston" || !strings.Contains(a.Detail, "3 bulk attempts") {
		t.Errorf("after_hours alert: %+v (all: %+v)", a, alerts)
	}
}
