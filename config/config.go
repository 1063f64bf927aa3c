// Package config is custodes.yaml: the one file that tells a gateway what to
// guard, where its state lives and who may connect.
//
// The comments on the fields below are the operator's reference. Load is
// strict: an unknown key, a missing required key or a value that cannot work
// stops start-up with a message that names it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // alerts.time_zone works where the system has no zoneinfo

	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/sumdb/note"
)

// Config is the whole of custodes.yaml.
type Config struct {
	// Listen is the address the gateway accepts analysts' PostgreSQL
	// connections on. Default "127.0.0.1:6432".
	Listen string `yaml:"listen"`

	// TLS for analysts' connections: see config/tls.go. Optional.
	TLS TLS `yaml:"tls,omitempty"`

	// MaxSessions bounds the analysts' connections served at once; one
	// more is refused at start-up, before authentication, with SQLSTATE
	// 53300. Each session holds one backend connection, so keep it below
	// the backend's max_connections. Default 500.
	MaxSessions int `yaml:"max_sessions,omitempty"`

	// HTTP is the address of the console: the public transparency report, the
	// read-only log at /log/, and the operator's pages. Default
	// "127.0.0.1:8080".
	HTTP string `yaml:"http"`

	// Backend is the agency's PostgreSQL database that holds person-level data.
	Backend Backend `yaml:"backend"`

	// Control is the database that holds custodes' own state: authorities,
	// coverage, suspensions, sealed details. It must be a different database
	// from Backend's, so that no analyst SQL can reach it.
	Control Control `yaml:"control"`

	// Log is the public transparency log.
	Log Log `yaml:"log"`

	// OperatorTokenFile holds the bearer token for the console's /ops/ pages.
	// Relative paths are relative to the directory of this file.
	OperatorTokenFile string `yaml:"operator_token_file"`

	// PolicyFile optionally replaces the acceptable-use policy built into the
	// binary with a Cedar file. Relative to the directory of this file.
	PolicyFile string `yaml:"policy_file,omitempty"`

	// Tenant is the agency this gateway serves, its units and analysts.
	Tenant Tenant `yaml:"tenant"`

	// Datasets are the tables (or views) analysts may reach. Everything not
	// listed here is unreachable (AUP-2).
	Datasets []Dataset `yaml:"datasets"`

	// Approvers are the note verifier keys (C2SP signed-note vkeys, see
	// `custodes keygen --origin NAME`) of the people who may issue and
	// revoke authorities; the key name is the approver's name. An authority
	// is honoured only while its signature verifies against one of these.
	// At least one is required.
	Approvers []string `yaml:"approvers"`

	// Overseers are the age recipients ("age1…") every sealed detail record
	// is encrypted to: the SQL text, analyst, authority and subjects behind
	// each log entry. The operator holds none of the identities, so cannot
	// read the details later. At least one is required.
	Overseers []string `yaml:"overseers"`

	// Coverage caps the distinct subjects a unit and the tenant may receive
	// rows about over a rolling window (AUP-6).
	Coverage Coverage `yaml:"coverage"`

	// Storage configures the storage attestations.
	Storage Storage `yaml:"storage,omitempty"`

	// Alerts sets when the operator's console raises an alert. Optional:
	// every threshold has a default.
	Alerts Alerts `yaml:"alerts,omitempty"`

	// dir is the directory the file was loaded from; relative paths resolve
	// against it.
	dir string
}

// Backend names the agency database.
type Backend struct {
	// URL connects to the agency database as the gateway's backend role, for
	// example "postgres://custodes_gateway:PASSWORD@127.0.0.1:5432/agency".
	// The role must not be a superuser and must not have BYPASSRLS;
	// `custodes setup` creates it with exactly the rights it needs. The
	// database name in the URL is the only database analysts may name.
	URL string `yaml:"url"`

	// AdminURL is a superuser connection to the same server, used only by
	// `custodes setup` to create roles and databases and to install grants and
	// row-level security. `custodes serve` never uses it. Optional.
	AdminURL string `yaml:"admin_url,omitempty"`
}

// Control names the control database.
type Control struct {
	// URL connects to the control database as custodes' control role, for
	// example "postgres://custodes_control:PASSWORD@127.0.0.1:5432/custodes".
	// The control database may be on the agency's server or on another;
	// either way the control role also connects, with this URL's user and
	// password, to the agency database at backend.url's server, where it
	// keeps each session's row-level-security scope.
	URL string `yaml:"url"`

	// AdminURL is a superuser connection to the control database's server,
	// used only by `custodes setup` to create the control role and
	// database there. Needed only when that server is not backend.url's;
	// default backend.admin_url. `custodes serve` never uses it.
	AdminURL string `yaml:"admin_url,omitempty"`
}

// Log configures the transparency log.
type Log struct {
	// Dir is the directory of the log's tiles and checkpoint (Tessera POSIX
	// storage). It is public: the console serves it read-only at /log/.
	Dir string `yaml:"dir"`

	// Origin is the log's name, the first line of every checkpoint, for
	// example "demo.custodes/agency".
	Origin string `yaml:"origin"`

	// KeyFile holds the note signer key that signs checkpoints (see `custodes
	// keygen`). Its key name must equal Origin. Keep it private.
	KeyFile string `yaml:"key_file"`

	// Witnesses cosign checkpoints after proving them consistent with what
	// they saw before (C2SP tlog-witness; see `custodes witness`). With
	// witnesses configured, a checkpoint is published only once
	// MinCosignatures of them have cosigned it. Optional.
	Witnesses []Witness `yaml:"witnesses,omitempty"`
	// MinCosignatures is how many witnesses must cosign. Default: all.
	MinCosignatures int `yaml:"min_cosignatures,omitempty"`
}

// Witness is one witness of the log.
type Witness struct {
	// URL is the witness's root URL, e.g. "http://127.0.0.1:7380/".
	URL string `yaml:"url"`
	// Key is its note verifier key.
	Key string `yaml:"key"`
}

// Tenant is one agency.
type Tenant struct {
	// Name of the tenant, as it appears in the public log.
	Name string `yaml:"name"`
	// Units of the tenant; every analyst belongs to exactly one.
	Units []Unit `yaml:"units"`
}

// Unit is a field office or team.
type Unit struct {
	Name     string    `yaml:"name"`
	Analysts []Analyst `yaml:"analysts"`
}

// Analyst is a person who may connect to the gateway.
type Analyst struct {
	// Name is the user name analysts give when they connect.
	Name string `yaml:"name"`
	// SCRAM is the password's SCRAM-SHA-256 verifier in PostgreSQL's format,
	// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (see
	// `custodes keygen --password`). Plain passwords are never stored.
	SCRAM string `yaml:"scram"`
}

// Dataset is one registered table.
type Dataset struct {
	// Table is "schema.table".
	Table string `yaml:"table"`
	// SubjectKey is the column that identifies the person a row is about;
	// empty for reference data that is about no one.
	SubjectKey string `yaml:"subject_key,omitempty"`
	// Category is one of identity, location, communications, financial,
	// speech, biometric, case, reference.
	Category string `yaml:"category"`
	// Protected columns may not be selected, filtered, grouped or joined on
	// (AUP-5).
	Protected []string `yaml:"protected,omitempty"`
}

// Coverage sets the AUP-6 caps. Zero means no cap.
type Coverage struct {
	// UnitCap is the most distinct subjects one unit may receive rows about
	// within Window.
	UnitCap int64 `yaml:"unit_cap"`
	// TenantCap is the same for the whole tenant.
	TenantCap int64 `yaml:"tenant_cap"`
	// Window is the rolling window, as a Go duration. Default "720h" (30 days).
	Window Duration `yaml:"window,omitempty"`
}

// Storage configures the periodic storage attestation: sizes and row counts
// of every registered dataset, who can read them without custodes, and the
// sessions that did not come through it, each sample a public log entry.
type Storage struct {
	// Interval between samples. Default "1h".
	Interval Duration `yaml:"interval,omitempty"`
	// ExpectedAdmins are roles known to be able to read everything (the
	// server's bootstrap superuser): attested, but not alerted on.
	ExpectedAdmins []string `yaml:"expected_admins,omitempty"`

	// LegacyGrowthAlertRatio and LegacyGrowthWindow are the old names of
	// alerts.storage_growth_ratio and alerts.storage_growth_window. A file
	// that still has them loads as if it said the new names (and the demo
	// rewrites its file with the new ones); a file with both an old and
	// a new name is refused. Deprecated: use the alerts section.
	LegacyGrowthAlertRatio float64  `yaml:"growth_alert_ratio,omitempty"`
	LegacyGrowthWindow     Duration `yaml:"growth_window,omitempty"`
}

// Alerts are the thresholds of the operator's alerts (the console's /ops/
// page and GET /ops/api/alerts). Apart from the storage growth alert,
// which the storage sampler records as a log entry, alerts are computed
// from the public log when the console is asked, so changing a threshold
// and restarting re-judges the whole log with it. Alerts change nothing
// the gateway allows or denies: they tell the operator where to look.
//
// A threshold left out (or 0) takes its default; to quiet an alert, set
// a threshold it cannot reach.
type Alerts struct {
	// CoveragePercent raises a "coverage" alert when a unit, or the
	// tenant, has received rows about this percentage of its AUP-6 cap or
	// more within coverage.window. Default 80; 1 to 100. Scopes with no
	// cap never raise it.
	CoveragePercent int64 `yaml:"coverage_percent,omitempty"`

	// Denials raises a "denials" alert when one analyst has been denied
	// this many statements or more within DenialWindow. Default 5.
	Denials int `yaml:"denials,omitempty"`
	// DenialWindow is the window Denials are counted in. Default "1h";
	// from "1m" to "168h" (the console keeps the window's denials in
	// memory).
	DenialWindow Duration `yaml:"denial_window,omitempty"`

	// AuthorityUseFactor raises an "authority_use" alert when an
	// authority has been used, over its life, for this many times more
	// distinct subjects than it allows in one statement (the subjects it
	// lists, or its max_subjects): at the default, a lead for 5 people
	// that has reached 50. Default 10; at least 2.
	AuthorityUseFactor int64 `yaml:"authority_use_factor,omitempty"`

	// WorkingHours are the tenant's working hours, "HH:MM-HH:MM" in
	// TimeZone. A unit's bulk attempts (statements denied by AUP-3)
	// outside them within the last 24 hours raise an "after_hours" alert
	// once there are AfterHoursAttempts of them. The end may come before
	// the start for a night shift ("22:00-06:00"); "00:00-24:00" makes
	// every hour a working hour, which quiets the alert. Default
	// "06:00-20:00".
	WorkingHours Hours `yaml:"working_hours,omitempty"`
	// TimeZone is the IANA name of the time zone of WorkingHours, for
	// example "America/New_York" (the binary carries the time zone
	// database). Default "UTC".
	TimeZone string `yaml:"time_zone,omitempty"`
	// AfterHoursAttempts is how many bulk attempts outside working hours
	// one unit makes within 24 hours before the alert is raised. Default 1.
	AfterHoursAttempts int `yaml:"after_hours_attempts,omitempty"`

	// StorageGrowthRatio raises a "storage_growth" alert entry in the log
	// when the bytes stored in the registered datasets grow by more than
	// this factor within StorageGrowthWindow, between the storage
	// sampler's attestations (storage.interval). Default 3; more than 1.
	// The sampler compares the attestations it took since the gateway
	// started.
	StorageGrowthRatio float64 `yaml:"storage_growth_ratio,omitempty"`
	// StorageGrowthWindow is the window of StorageGrowthRatio. Default
	// "4320h" (180 days).
	StorageGrowthWindow Duration `yaml:"storage_growth_window,omitempty"`

	loc *time.Location
}

// WithDefaults returns a with every threshold left out set to its
// default, as documented on Alerts. Parse applies it; code that builds a
// Config by hand can too.
func (a Alerts) WithDefaults() Alerts {
	orDefault(&a.CoveragePercent, 80)
	orDefault(&a.Denials, 5)
	orDefault(&a.DenialWindow, Duration{time.Hour})
	orDefault(&a.AuthorityUseFactor, 10)
	orDefault(&a.WorkingHours, Hours{Start: 6 * time.Hour, End: 20 * time.Hour, set: true})
	orDefault(&a.TimeZone, "UTC")
	orDefault(&a.AfterHoursAttempts, 1)
	orDefault(&a.StorageGrowthRatio, 3)
	orDefault(&a.StorageGrowthWindow, Duration{180 * 24 * time.Hour})
	return a
}

// orDefault sets *p to v if *p is the zero value.
func orDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Location is TimeZone's location (UTC if it is empty or unknown; Parse
// refuses an unknown one).
func (a *Alerts) Location() *time.Location {
	if a.loc != nil {
		return a.loc
	}
	if loc, err := time.LoadLocation(a.TimeZone); err == nil && a.TimeZone != "" {
		return loc
	}
	return time.UTC
}

// AfterHours says whether t falls outside WorkingHours in TimeZone.
func (a *Alerts) AfterHours(t time.Time) bool {
	lt := t.In(a.Location())
	return !a.WorkingHours.Contains(time.Duration(lt.Hour())*time.Hour + time.Duration(lt.Minute())*time.Minute +
		time.Duration(lt.Second())*time.Second)
}

// Hours is a daily span of time written "HH:MM-HH:MM" in YAML. End may
// come before Start: the span then runs over midnight.
type Hours struct {
	// Start and End are times of day, as durations since midnight; End
	// is at most 24h.
	Start, End time.Duration
	set        bool
}

// ParseHours reads "HH:MM-HH:MM".
func ParseHours(s string) (Hours, error) {
	from, to, ok := strings.Cut(strings.ReplaceAll(s, " ", ""), "-")
	if !ok {
		return Hours{}, fmt.Errorf("%q is not a span such as 06:00-20:00", s)
	}
	start, err1 := parseClock(from, false)
	end, err2 := parseClock(to, true)
	if err := errors.Join(err1, err2); err != nil {
		return Hours{}, fmt.Errorf("%q is not a span such as 06:00-20:00: %w", s, err)
	}
	if start == end {
		return Hours{}, fmt.Errorf("%q starts and ends at the same time (00:00-24:00 is the whole day)", s)
	}
	return Hours{Start: start, End: end, set: true}, nil
}

func parseClock(s string, end bool) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && (mm != 0 || !end)) {
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// Contains says whether the time of day d (since midnight) is within h.
func (h Hours) Contains(d time.Duration) bool {
	if h.Start < h.End {
		return d >= h.Start && d < h.End
	}
	return d >= h.Start || d < h.End
}

func (h Hours) String() string {
	clock := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", d/time.Hour, d%time.Hour/time.Minute) }
	return clock(h.Start) + "-" + clock(h.End)
}

// IsZero makes an Hours never set omitted from Marshal.
func (h Hours) IsZero() bool { return !h.set }

func (h *Hours) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseHours(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*h = v
	return nil
}

func (h Hours) MarshalYAML() (any, error) { return h.String(), nil }

// Duration is a time.Duration written as "720h" in YAML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 720h", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return d.Duration.String(), nil }

// Categories are the dataset categories DESIGN.md defines.
var Categories = []string{"identity", "location", "communications", "financial", "speech", "biometric", "case", "reference"}

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	c.dir = abs
	return c, nil
}

// maxSize bounds the config file; a bigger one is a mistake.
const maxSize = 1 << 20

// Parse decodes and validates config text. Unknown keys are errors.
func Parse(b []byte) (*Config, error) {
	if len(b) > maxSize {
		return nil, fmt.Errorf("config is larger than %d bytes", maxSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("couldn't parse config: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("config holds more than one YAML document")
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:6432"
	}
	if c.HTTP == "" {
		c.HTTP = "127.0.0.1:8080"
	}
	if c.Storage.Interval.Duration == 0 {
		c.Storage.Interval.Duration = time.Hour
	}
	if err := c.Storage.moveLegacy(&c.Alerts); err != nil {
		return nil, err
	}
	c.Alerts = c.Alerts.WithDefaults()
	if c.Coverage.Window.Duration == 0 {
		c.Coverage.Window.Duration = 30 * 24 * time.Hour
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var (
	nameRE  = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.MaxSessions < 0 {
		bad("max_sessions: %d must not be negative", c.MaxSessions)
	}
	for key, addr := range map[string]string{"listen": c.Listen, "http": c.HTTP} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad("%s: %q is not host:port", key, addr)
		}
	}
	checkURL := func(key, u string, required bool) {
		if u == "" {
			if required {
				bad("%s is required", key)
			}
			return
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
			bad("%s: not a postgres:// URL", key) // never echo: URLs hold passwords
			return
		}
		if strings.TrimPrefix(p.Path, "/") == "" {
			bad("%s: the URL names no database", key)
		}
	}
	checkURL("backend.url", c.Backend.URL, true)
	checkURL("backend.admin_url", c.Backend.AdminURL, false)
	checkURL("control.url", c.Control.URL, true)
	checkURL("control.admin_url", c.Control.AdminURL, false)
	if c.Backend.URL != "" && c.Control.URL != "" && c.BackendDatabase() == c.ControlDatabase() {
		bad("control.url must name a different database from backend.url")
	}
	if c.Log.Dir == "" {
		bad("log.dir is required")
	}
	if c.Log.Origin == "" {
		bad("log.origin is required")
	} else if strings.ContainsAny(c.Log.Origin, " \t\n+") {
		bad("log.origin %q must not contain spaces or '+'", c.Log.Origin)
	}
	if c.Log.MinCosignatures == 0 {
		c.Log.MinCosignatures = len(c.Log.Witnesses)
	}
	if c.Log.MinCosignatures < 0 || c.Log.MinCosignatures > len(c.Log.Witnesses) {
		bad("log.min_cosignatures %d must be between 1 and the %d witnesses", c.Log.MinCosignatures, len(c.Log.Witnesses))
	}
	for i, w := range c.Log.Witnesses {
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			bad("log.witnesses[%d].url %q is not an http(s) URL", i, w.URL)
		}
		if _, err := note.NewVerifier(w.Key); err != nil {
			bad("log.witnesses[%d].key is not a note verifier key: %v", i, err)
		}
	}
	if c.Log.KeyFile == "" {
		bad("log.key_file is required")
	}
	if c.OperatorTokenFile == "" {
		bad("operator_token_file is required")
	}
	if !nameRE.MatchString(c.Tenant.Name) {
		bad("tenant.name %q must be lower-case letters, digits, '-' or '_'", c.Tenant.Name)
	}
	if len(c.Tenant.Units) == 0 {
		bad("tenant.units: at least one unit is required")
	}
	analysts := map[string]bool{}
	units := map[string]bool{}
	for i, u := range c.Tenant.Units {
		if !nameRE.MatchString(u.Name) {
			bad("tenant.units[%d].name %q must be lower-case letters, digits, '-' or '_'", i, u.Name)
		}
		if units[u.Name] {
			bad("tenant.units: unit %q appears twice", u.Name)
		}
		units[u.Name] = true
		for j, a := range u.Analysts {
			where := fmt.Sprintf("tenant.units[%d].analysts[%d]", i, j)
			if !nameRE.MatchString(a.Name) {
				bad("%s.name %q must be lower-case letters, digits, '-' or '_'", where, a.Name)
			}
			if analysts[a.Name] {
				bad("%s: analyst %q appears twice", where, a.Name)
			}
			analysts[a.Name] = true
			if !strings.HasPrefix(a.SCRAM, "SCRAM-SHA-256$") {
				bad("%s.scram must be a SCRAM-SHA-256 verifier (custodes keygen --password)", where)
			}
		}
	}
	if len(c.Datasets) == 0 {
		bad("datasets: at least one dataset is required")
	}
	tables := map[string]bool{}
	for i, d := range c.Datasets {
		where := fmt.Sprintf("datasets[%d]", i)
		schema, table, ok := strings.Cut(d.Table, ".")
		if !ok || !identRE.MatchString(schema) || !identRE.MatchString(table) {
			bad("%s.table %q must be schema.table in lower case", where, d.Table)
		}
		if tables[d.Table] {
			bad("%s: table %q appears twice", where, d.Table)
		}
		tables[d.Table] = true
		if d.SubjectKey != "" && !identRE.MatchString(d.SubjectKey) {
			bad("%s.subject_key %q is not a column name", where, d.SubjectKey)
		}
		if !slices.Contains(Categories, d.Category) {
			bad("%s.category %q must be one of %s", where, d.Category, strings.Join(Categories, ", "))
		}
		if d.Category != "reference" && d.SubjectKey == "" {
			bad("%s: category %s needs a subject_key", where, d.Category)
		}
		for _, p := range d.Protected {
			if !identRE.MatchString(p) {
				bad("%s.protected: %q is not a column name", where, p)
			}
		}
	}
	if len(c.Approvers) == 0 {
		bad("approvers: at least one approver key is required (custodes keygen --origin NAME --out FILE)")
	}
	for i, a := range c.Approvers {
		if _, err := note.NewVerifier(a); err != nil {
			bad("approvers[%d] is not a note verifier key (name+hash+key): %v", i, err)
		}
	}
	if len(c.Overseers) == 0 {
		bad("overseers: at least one age recipient is required (custodes keygen --overseer)")
	}
	for i, r := range c.Overseers {
		if !strings.HasPrefix(r, "age1") {
			bad("overseers[%d] %q is not an age recipient (age1…)", i, r)
		}
	}
	if c.Coverage.UnitCap < 0 || c.Coverage.TenantCap < 0 {
		bad("coverage caps must not be negative")
	}
	if c.Storage.Interval.Duration < 10*time.Second {
		bad("storage.interval must be at least 10s")
	}
	c.Alerts.validate(bad)
	c.TLS.validate(bad)
	if c.Coverage.Window.Duration < time.Hour {
		bad("coverage.window must be at least 1h")
	}
	return errors.Join(errs...)
}

// moveLegacy moves the storage section's old growth alert keys to a.
func (s *Storage) moveLegacy(a *Alerts) error {
	if s.LegacyGrowthAlertRatio != 0 {
		if a.StorageGrowthRatio != 0 {
			return errors.New("storage.growth_alert_ratio is the old name of alerts.storage_growth_ratio: keep only the new one")
		}
		a.StorageGrowthRatio, s.LegacyGrowthAlertRatio = s.LegacyGrowthAlertRatio, 0
	}
	if s.LegacyGrowthWindow.Duration != 0 {
		if a.StorageGrowthWindow.Duration != 0 {
			return errors.New("storage.growth_window is the old name of alerts.storage_growth_window: keep only the new one")
		}
		a.StorageGrowthWindow, s.LegacyGrowthWindow = s.LegacyGrowthWindow, Duration{}
	}
	return nil
}

// validate checks thresholds after WithDefaults, and loads TimeZone.
func (a *Alerts) validate(bad func(format string, args ...any)) {
	if a.CoveragePercent < 1 || a.CoveragePercent > 100 {
		bad("alerts.coverage_percent %d must be from 1 to 100", a.CoveragePercent)
	}
	if a.Denials < 1 {
		bad("alerts.denials %d must be at least 1", a.Denials)
	}
	if w := a.DenialWindow.Duration; w < time.Minute || w > 7*24*time.Hour {
		bad("alerts.denial_window %s must be from 1m to 168h", w)
	}
	if a.AuthorityUseFactor < 2 {
		bad("alerts.authority_use_factor %d must be at least 2", a.AuthorityUseFactor)
	}
	if a.AfterHoursAttempts < 1 {
		bad("alerts.after_hours_attempts %d must be at least 1", a.AfterHoursAttempts)
	}
	if loc, err := time.LoadLocation(a.TimeZone); err != nil || a.TimeZone == "Local" {
		bad("alerts.time_zone %q is not an IANA time zone name such as UTC or America/New_York", a.TimeZone)
	} else {
		a.loc = loc
	}
	if !(a.StorageGrowthRatio > 1) { // also NaN
		bad("alerts.storage_growth_ratio %g must be more than 1", a.StorageGrowthRatio)
	}
	if a.StorageGrowthWindow.Duration <= 0 {
		bad("alerts.storage_growth_window %s must be positive", a.StorageGrowthWindow.Duration)
	}
}

// BackendDatabase is the database name in Backend.URL.
func (c *Config) BackendDatabase() string { return dbName(c.Backend.URL) }

// ControlDatabase is the database name in Control.URL.
func (c *Config) ControlDatabase() string { return dbName(c.Control.URL) }

func dbName(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(p.Path, "/")
}

// Path resolves a path from the config relative to the config's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// UnitOf returns the unit of an analyst, or false if there is no such analyst.
func (c *Config) UnitOf(analyst string) (string, bool) {
	for _, u := range c.Tenant.Units {
		for _, a := range u.Analysts {
			if a.Name == analyst {
				return u.Name, true
			}
		}
	}
	return "", false
}

// Marshal encodes the config as YAML, for the demo to write.
func (c *Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
