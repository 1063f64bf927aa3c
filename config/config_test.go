package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

const good = `
backend:
  url: postgres://gw:pw@127.0.0.1:5432/agency
control:
  url: postgres://ctl:pw@127.0.0.1:5432/custodes
log:
  dir: log
  origin: demo.custodes/agency
  key_file: log.key
operator_token_file: operator.token
tenant:
  name: agency
  units:
    - name: newark
      analysts:
        - name: alice
          scram: SCRAM-SHA-256$4096:c2FsdA==$a:b
datasets:
  - table: public.persons
    subject_key: person_id
    category: identity
    protected: [religion, ethnicity]
  - table: public.addresses
    category: reference
coverage:
  unit_cap: 200
  tenant_cap: 1000
overseers: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
approvers: [court-liaison+3214d726+ASSTwJPWDwV1vy6csxONXWG8QIqsUgPUMuCCN0fNvmMp]
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:6432" || c.HTTP != "127.0.0.1:8080" {
		t.Errorf("defaults: listen %q http %q", c.Listen, c.HTTP)
	}
	if c.Coverage.Window.Hours() != 720 {
		t.Errorf("default window %v", c.Coverage.Window)
	}
	if c.BackendDatabase() != "agency" || c.ControlDatabase() != "custodes" {
		t.Errorf("databases %q %q", c.BackendDatabase(), c.ControlDatabase())
	}
	if u, ok := c.UnitOf("alice"); !ok || u != "newark" {
		t.Errorf("UnitOf(alice) = %q, %v", u, ok)
	}
	// Marshal round-trips.
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(b); err != nil {
		t.Fatalf("re-parse of marshalled config: %v\n%s", err, b)
	}
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct{ edit, want string }{
		{"coverage:\n  unit_cap: 200\n  tenant_cap: 1000\n  surprise: 1\noverseers: [age1x]\napprovers: [a+b+c]\n", "field surprise not found"},
		{"listenn: x\n", "field listenn not found"},
		{"max_sessions: -1\n", "max_sessions: -1 must not be negative"},
		{"", ""},
	} {
		text := good
		if tc.edit != "" {
			if strings.HasPrefix(tc.edit, "coverage:") {
				text = text[:strings.Index(text, "coverage:")] + tc.edit
			} else {
				text += tc.edit
			}
		}
		_, err := Parse([]byte(text))
		if tc.want == "" {
			if err != nil {
				t.Errorf("unexpected error %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("edit %q: want error containing %q, got %v", tc.edit, tc.want, err)
		}
	}
	for _, tc := range []struct{ from, to, want string }{
		{"key_file: log.key", "", "log.key_file is required"},
		{"category: identity", "category: gossip", `datasets[0].category "gossip" must be one of`},
		{"/custodes\n", "/agency\n", "different database"},
		{"table: public.persons", "table: persons", "must be schema.table"},
		{"scram: SCRAM-SHA-256$4096:c2FsdA==$a:b", "scram: hunter2", "must be a SCRAM-SHA-256 verifier"},
		{"    subject_key: person_id\n", "", "category identity needs a subject_key"},
		{"unit_cap: 200", "unit_cap: -1", "must not be negative"},
		{"url: postgres://gw:pw@127.0.0.1:5432/agency", "url: mysql://x/agency", "backend.url: not a postgres:// URL"},
	} {
		text := strings.Replace(good, tc.from, tc.to, 1)
		_, err := Parse([]byte(text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q → %q: want error containing %q, got %v", tc.from, tc.to, tc.want, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("error text leaks a URL with its password: %v", err)
		}
	}
}

// TestAlertDefaults: a file without an alerts section gets the documented
// defaults, and they survive Marshal.
func TestAlertDefaults(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Alerts
	if a.CoveragePercent != 80 || a.Denials != 5 || a.DenialWindow.Duration != time.Hour || a.AuthorityUseFactor != 10 ||
		a.WorkingHours.String() != "06:00-20:00" || a.TimeZone != "UTC" || a.AfterHoursAttempts != 1 ||
		a.StorageGrowthRatio != 3 || a.StorageGrowthWindow.Duration != 180*24*time.Hour {
		t.Errorf("default alerts %+v", a)
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "working_hours: 06:00-20:00") {
		t.Errorf("marshalled config does not spell out the working hours:\n%s", b)
	}
	again, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if again.Alerts.WorkingHours != a.WorkingHours || again.Alerts.StorageGrowthWindow != a.StorageGrowthWindow {
		t.Errorf("alerts after a round trip: %+v, want %+v", again.Alerts, a)
	}
}

// TestAlertsSection: every threshold can be set, and the after-hours test
// follows the working hours in their time zone.
func TestAlertsSection(t *testing.T) {
	c, err := Parse([]byte(good + `alerts:
  coverage_percent: 50
  denials: 3
  denial_window: 15m
  authority_use_factor: 4
  working_hours: "22:00-06:00"
  time_zone: America/New_York
  after_hours_attempts: 2
  storage_growth_ratio: 1.5
  storage_growth_window: 720h
`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Alerts
	if a.CoveragePercent != 50 || a.Denials != 3 || a.DenialWindow.Duration != 15*time.Minute || a.AuthorityUseFactor != 4 ||
		a.AfterHoursAttempts != 2 || a.StorageGrowthRatio != 1.5 || a.StorageGrowthWindow.Duration != 720*time.Hour {
		t.Errorf("alerts %+v", a)
	}
	// A night shift in New York: 03:00 there is working time, noon is not.
	for _, tc := range []struct {
		utc   string
		after bool
	}{
		{"2026-01-15T08:00:00Z", false}, // 03:00 EST
		{"2026-01-15T17:00:00Z", true},  // 12:00 EST
		{"2026-01-15T03:00:00Z", false}, // 22:00 EST, the start
		{"2026-01-15T11:00:00Z", true},  // 06:00 EST, the end
	} {
		tt, _ := time.Parse(time.RFC3339, tc.utc)
		if got := a.AfterHours(tt); got != tc.after {
			t.Errorf("AfterHours(%s) = %v, want %v", tc.utc, got, tc.after)
		}
	}
	// Daylight saving time: 10:30 UTC is 06:30 EDT in July (after hours)
	// and 05:30 EST in January (working).
	if jul, jan := time.Date(2026, 7, 15, 10, 30, 0, 0, time.UTC), time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC); !a.AfterHours(jul) || a.AfterHours(jan) {
		t.Errorf("AfterHours across daylight saving time: July %v, January %v; want true, false", a.AfterHours(jul), a.AfterHours(jan))
	}

	whole, err := Parse([]byte(good + "alerts:\n  working_hours: 00:00-24:00\n"))
	if err != nil {
		t.Fatal(err)
	}
	for h := range 24 {
		if whole.Alerts.AfterHours(time.Date(2026, 1, 1, h, 59, 59, 0, time.UTC)) {
			t.Errorf("00:00-24:00: %02d:59:59 is after hours", h)
		}
	}
}

// TestAlertsBad: unknown keys and values that cannot work are refused with
// the key's name; the old storage names still load but not beside the new.
func TestAlertsBad(t *testing.T) {
	for _, tc := range []struct{ alerts, want string }{
		{"  surprise: 1\n", "field surprise not found"},
		{"  coverage_percent: 120\n", "alerts.coverage_percent 120 must be from 1 to 100"},
		{"  coverage_percent: -1\n", "alerts.coverage_percent -1 must be from 1 to 100"},
		{"  denials: -2\n", "alerts.denials -2 must be at least 1"},
		{"  denial_window: 30s\n", "alerts.denial_window 30s must be from 1m to 168h"},
		{"  denial_window: 720h\n", "alerts.denial_window 720h0m0s must be from 1m to 168h"},
		{"  denial_window: soon\n", `"soon" is not a duration`},
		{"  authority_use_factor: 1\n", "alerts.authority_use_factor 1 must be at least 2"},
		{"  working_hours: 9-17\n", `"9-17" is not a span such as 06:00-20:00`},
		{"  working_hours: 09:00-25:00\n", `"25:00" is not a time of day`},
		{"  working_hours: 24:00-06:00\n", `"24:00" is not a time of day`},
		{"  working_hours: 09:00-09:00\n", "starts and ends at the same time"},
		{"  time_zone: Mars/Olympus\n", `alerts.time_zone "Mars/Olympus" is not an IANA time zone name`},
		{"  time_zone: Local\n", `alerts.time_zone "Local" is not an IANA time zone name`},
		{"  after_hours_attempts: -1\n", "alerts.after_hours_attempts -1 must be at least 1"},
		{"  storage_growth_ratio: 1\n", "alerts.storage_growth_ratio 1 must be more than 1"},
		{"  storage_growth_ratio: .nan\n", "alerts.storage_growth_ratio NaN must be more than 1"},
		{"  storage_growth_window: -1h\n", "alerts.storage_growth_window -1h0m0s must be positive"},
	} {
		_, err := Parse([]byte(good + "alerts:\n" + tc.alerts))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("alerts %q: want an error containing %q, got %v", tc.alerts, tc.want, err)
		}
	}

	// The storage section's old names.
	old := good + "storage:\n  growth_alert_ratio: 2.5\n  growth_window: 240h\n"
	c, err := Parse([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if c.Alerts.StorageGrowthRatio != 2.5 || c.Alerts.StorageGrowthWindow.Duration != 240*time.Hour {
		t.Errorf("old storage names: alerts %+v", c.Alerts)
	}
	if b, _ := c.Marshal(); strings.Contains(string(b), "growth_alert_ratio") || !strings.Contains(string(b), "storage_growth_ratio: 2.5") {
		t.Errorf("a config read with the old names marshals with them:\n%s", b)
	}
	_, err = Parse([]byte(old + "alerts:\n  storage_growth_ratio: 4\n"))
	if err == nil || !strings.Contains(err.Error(), "storage.growth_alert_ratio is the old name of alerts.storage_growth_ratio") {
		t.Errorf("old and new name together: %v", err)
	}
}

// TestOperatorGuideAlerts: the alerts section docs/operator.md shows
// parses, with the values it says.
func TestOperatorGuideAlerts(t *testing.T) {
	b, err := os.ReadFile("../docs/operator.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "```\nalerts:\n")
	if !ok {
		t.Fatal("docs/operator.md shows no alerts section")
	}
	block, _, _ = strings.Cut(block, "```")
	c, err := Parse([]byte(good + "alerts:\n" + block))
	if err != nil {
		t.Fatalf("the guide's alerts section: %v\n%s", err, block)
	}
	if a := c.Alerts; a.CoveragePercent != 50 || a.TimeZone != "America/New_York" || a.WorkingHours.String() != "09:00-17:00" {
		t.Errorf("the guide's alerts section gives %+v", a)
	}
}
