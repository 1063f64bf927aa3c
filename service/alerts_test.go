package service

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

// testLog opens a log in a temporary directory: add appends an entry of
// tenant agency, done closes the log once its checkpoint covers them.
func testLog(t *testing.T) (dir, vkey string, add func(*record.Entry), done func()) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	skey, vkey, err := translog.GenerateKey("alerts.custodes/agency")
	if err != nil {
		t.Fatal(err)
	}
	l, err := translog.Open(ctx, translog.Options{Dir: dir, SignerKey: skey, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	add = func(e *record.Entry) {
		e.Tenant = "agency"
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	done = func() {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir, vkey, add, done
}

// TestAlertThresholds writes a real log with the patterns the alerts
// watch for — an authority used far beyond its scope, repeated denials,
// bulk attempts outside working hours, coverage of a unit — and judges it
// with the default thresholds and with changed ones: what custodes.yaml's
// alerts section says is what the console applies.
func TestAlertThresholds(t *testing.T) {
	ctx := context.Background()
	dir, vkey, add, done := testLog(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	lead := strings.Repeat("cd", 32)
	add(&record.Entry{Kind: record.KindAuthorityIssued, Time: now, Unit: "newark", AuthorityKind: "administrative", Authority: lead,
		Attrs: []record.Attr{{Key: "max_subjects", Value: "5"}}})
	// 60 distinct subjects under a lead for 5: 12× its scope, 30% of
	// newark's cap of 200.
	for i := range 12 {
		var tokens []string
		for k := range 5 {
			tokens = append(tokens, fmt.Sprintf("%016x", i*5+k+1))
		}
		add(&record.Entry{Kind: record.KindStatement, Time: now, Unit: "newark", Analyst: "1111111111111111", AuthorityKind: "administrative",
			Authority: lead, Class: "read", Decision: "allow", Rows: 5, Subjects: 5, SubjectTokens: tokens})
	}
	// Analyst 2222… denied 3 times just now; analyst 3333… 5 times 90
	// minutes ago.
	for range 3 {
		add(&record.Entry{Kind: record.KindStatement, Time: now, Unit: "newark", Analyst: "2222222222222222", Class: "read", Decision: "deny", Rules: []string{"AUP-5"}})
	}
	for range 5 {
		add(&record.Entry{Kind: record.KindStatement, Time: now.Add(-90 * time.Minute), Unit: "newark", Analyst: "3333333333333333", Class: "read", Decision: "deny", Rules: []string{"AUP-7"}})
	}
	// Three bulk attempts by houston at 02:30 UTC within the last day
	// (11:30 in Tokyo).
	night := time.Date(now.Year(), now.Month(), now.Day(), 2, 30, 0, 0, time.UTC)
	if night.After(now) {
		night = night.Add(-24 * time.Hour)
	}
	for range 3 {
		add(&record.Entry{Kind: record.KindStatement, Time: night, Unit: "houston", Analyst: "4444444444444444", Class: "read", Decision: "deny", Rules: []string{"AUP-3"}})
	}
	done()

	hours := func(s string) config.Hours {
		h, err := config.ParseHours(s)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		alerts config.Alerts
		want   []string // kind: a part of the detail
		absent []string // kinds, or analysts, that must not appear
	}{
		{name: "defaults", alerts: config.Alerts{},
			want:   []string{"authority_use: authority cdcdcdcdcdcd… (administrative) has been used for 60 distinct subjects, 12× the 5 it allows", "after_hours: unit houston made 3 bulk attempts (AUP-3) outside working hours (06:00-20:00 UTC)"},
			absent: []string{"coverage", "denials"}},
		{name: "stricter", alerts: config.Alerts{CoveragePercent: 25, Denials: 3, DenialWindow: config.Duration{Duration: 2 * time.Hour}},
			want: []string{"coverage: unit newark received rows about 60 distinct subjects in the last 30 days: 30% of its cap of 200",
				"denials: analyst 2222222222222222 was denied 3 statements in the last 2 hours (AUP-5 ×3)",
				"denials: analyst 3333333333333333 was denied 5 statements in the last 2 hours (AUP-7 ×5)",
				"authority_use: ", "after_hours: "},
			absent: []string{"tenant agency"}},
		{name: "denials in the default window only", alerts: config.Alerts{Denials: 3},
			want:   []string{"denials: analyst 2222222222222222 was denied 3 statements in the last hour (AUP-5 ×3)"},
			absent: []string{"3333333333333333", "coverage"}},
		{name: "quieter", alerts: config.Alerts{AuthorityUseFactor: 13, AfterHoursAttempts: 4, CoveragePercent: 31},
			absent: []string{"authority_use", "after_hours", "coverage", "denials"}},
		{name: "working hours in Tokyo", alerts: config.Alerts{WorkingHours: hours("09:00-18:00"), TimeZone: "Asia/Tokyo"},
			want:   []string{"authority_use: "},
			absent: []string{"after_hours"}},
		{name: "night shift", alerts: config.Alerts{WorkingHours: hours("22:00-03:00")},
			want:   []string{"authority_use: "},
			absent: []string{"after_hours"}},
		{name: "whole day", alerts: config.Alerts{WorkingHours: hours("00:00-24:00")},
			absent: []string{"after_hours"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Service{cfg: &config.Config{Tenant: config.Tenant{Name: "agency", Units: []config.Unit{{Name: "newark"}, {Name: "houston"}}},
				Coverage: config.Coverage{UnitCap: 200, TenantCap: 1000, Window: config.Duration{Duration: 30 * 24 * time.Hour}}, Alerts: tc.alerts}}
			d := &consoleData{Service: s, idx: newLogIndex(dir, vkey, s.cfg.Alerts)}
			alerts, err := d.Alerts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, a := range alerts {
				lines = append(lines, a.Kind+": "+a.Detail)
			}
			all := strings.Join(lines, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no alert %q in:\n%s", w, all)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(all, a) {
					t.Errorf("an alert mentions %q:\n%s", a, all)
				}
			}
		})
	}
}
