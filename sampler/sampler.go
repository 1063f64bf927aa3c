// Package sampler attests, periodically and on the public record, how much
// person-level data the agency holds and who could reach it without going
// through custodes.
//
// Each sample is one storage_attestation entry: rows and bytes of every
// registered dataset (the "three times the data in six months" signal), the
// roles beyond custodes' own that can read a dataset (grants, superusers,
// BYPASSRLS, ownership), and the sessions on the agency database that did
// not come through custodes. Anything beyond custodes' own roles, and
// stored-data growth above the configured ratio, is also an alert entry.
package sampler

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Querier runs queries on the agency database, as a role that may read the
// statistics views (pg_read_all_stats).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Recorder appends public entries: attrs for a storage attestation, or an
// alert. It must be durable once it returns.
type Recorder interface {
	Attest(ctx context.Context, attrs map[string]string) (uint64, error)
	Alert(ctx context.Context, kind, detail string) (uint64, error)
}

// Config is what the sampler watches.
type Config struct {
	Datasets []string // schema.table
	// OwnRoles are custodes' roles (the gateway's and the control role);
	// any other role that can read a dataset is a bypass.
	OwnRoles []string
	// GatewayRole is the gateway's backend role: its sessions must carry
	// the gateway's application_name, or someone is using its credentials.
	GatewayRole string
	// Admins are roles expected to hold superuser (the server's own
	// bootstrap role): reported, but not alerted on.
	Admins []string
	// GrowthRatio alerts when stored bytes grow more than this factor
	// within GrowthWindow (0: no growth alerts).
	GrowthRatio  float64
	GrowthWindow time.Duration
}

// Sample is one attestation.
type Sample struct {
	Time           time.Time
	Rows, Bytes    map[string]int64
	Readers        []string // roles beyond custodes' own that can read a dataset
	DirectSessions []string // "role@application" of sessions not through custodes
}

// Take reads one sample.
func Take(ctx context.Context, q Querier, cfg Config) (*Sample, error) {
	s := &Sample{Time: time.Now().UTC(), Rows: map[string]int64{}, Bytes: map[string]int64{}}
	rows, err := q.Query(ctx, `
		SELECT n.nspname || '.' || c.relname, coalesce(st.n_live_tup, c.reltuples::bigint, 0), pg_total_relation_size(c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_stat_all_tables st ON st.relid = c.oid
		WHERE n.nspname || '.' || c.relname = ANY ($1)`, cfg.Datasets)
	if err != nil {
		return nil, fmt.Errorf("couldn't read dataset sizes: %w", err)
	}
	for rows.Next() {
		var name string
		var n, b int64
		if err := rows.Scan(&name, &n, &b); err != nil {
			return nil, err
		}
		s.Rows[name], s.Bytes[name] = max(n, 0), b
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Who can read a dataset: explicit grants (also through role
	// membership), owners, superusers and BYPASSRLS roles.
	rows, err = q.Query(ctx, `
		SELECT DISTINCT r.rolname FROM pg_roles r
		WHERE r.rolcanlogin AND (r.rolsuper OR r.rolbypassrls
		   OR EXISTS (SELECT 1 FROM unnest($1::text[]) d
		              WHERE has_table_privilege(r.oid, d, 'SELECT')))
		ORDER BY 1`, cfg.Datasets)
	if err != nil {
		return nil, fmt.Errorf("couldn't read who can reach the datasets: %w", err)
	}
	for rows.Next() {
		var role string
		if err := rows.Scan(&role); err != nil {
			return nil, err
		}
		if !slices.Contains(cfg.OwnRoles, role) {
			s.Readers = append(s.Readers, role)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = q.Query(ctx, `
		SELECT coalesce(usename, ''), coalesce(application_name, '') FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the database's sessions: %w", err)
	}
	for rows.Next() {
		var user, app string
		if err := rows.Scan(&user, &app); err != nil {
			return nil, err
		}
		switch {
		case user == cfg.GatewayRole && strings.HasPrefix(app, "custodes:"):
			continue // an analyst's session through the gateway
		case slices.Contains(cfg.OwnRoles, user) && user != cfg.GatewayRole:
			continue // custodes' own control connections
		}
		s.DirectSessions = append(s.DirectSessions, user+"@"+app)
	}
	return s, rows.Err()
}

// Attrs are the sample's public attributes.
func (s *Sample) Attrs() map[string]string {
	a := map[string]string{}
	for d, n := range s.Rows {
		a["rows."+d] = strconv.FormatInt(n, 10)
	}
	for d, b := range s.Bytes {
		a["bytes."+d] = strconv.FormatInt(b, 10)
	}
	a["readers"] = strings.Join(s.Readers, ",")
	a["direct_sessions"] = strconv.Itoa(len(s.DirectSessions))
	return a
}

// FromAttrs is the sample a storage attestation entry recorded at t (its
// sizes and row counts; readers and sessions are not needed again).
func FromAttrs(t time.Time, attrs map[string]string) *Sample {
	s := &Sample{Time: t, Rows: map[string]int64{}, Bytes: map[string]int64{}}
	for k, v := range attrs {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		if d, ok := strings.CutPrefix(k, "bytes."); ok {
			s.Bytes[d] = n
		} else if d, ok := strings.CutPrefix(k, "rows."); ok {
			s.Rows[d] = n
		}
	}
	return s
}

func (s *Sample) total() int64 {
	var t int64
	for _, b := range s.Bytes {
		t += b
	}
	return t
}

// Sampler takes samples every interval and records them.
type Sampler struct {
	q   Querier
	rec Recorder
	cfg Config
	log *slog.Logger
	// history is the samples within GrowthWindow, oldest first; owned by Run.
	history []*Sample
}

// New returns a Sampler.
func New(q Querier, rec Recorder, cfg Config, log *slog.Logger) *Sampler {
	return &Sampler{q: q, rec: rec, cfg: cfg, log: log}
}

// observe adds smp to the history and says whether stored data grew more
// than the ratio within the window, with the alert.
func (s *Sampler) observe(smp *Sample) ([2]string, bool) {
	s.history = append(s.history, smp)
	for len(s.history) > 1 && smp.Time.Sub(s.history[0].Time) > s.cfg.GrowthWindow {
		s.history = s.history[1:]
	}
	first := s.history[0]
	if s.cfg.GrowthRatio <= 0 || first == smp || first.total() <= 0 {
		return [2]string{}, false
	}
	ratio := float64(smp.total()) / float64(first.total())
	if ratio <= s.cfg.GrowthRatio {
		return [2]string{}, false
	}
	return [2]string{"storage_growth", fmt.Sprintf("stored data grew %.2f× in %s (from %d to %d bytes), above the %.2f× alert ratio",
		ratio, smp.Time.Sub(first.Time).Round(time.Second), first.total(), smp.total(), s.cfg.GrowthRatio)}, true
}

// Seed gives the sampler the samples recorded before it started (from the
// log), so that growth over a window longer than this process has run is
// still measured. Call it before Run.
func (s *Sampler) Seed(earlier []*Sample) {
	slices.SortFunc(earlier, func(a, b *Sample) int { return a.Time.Compare(b.Time) })
	s.history = append(earlier, s.history...)
}

// Run samples now and then every interval until ctx ends.
func (s *Sampler) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("couldn't attest storage", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once takes and records one sample, with its alerts.
func (s *Sampler) Once(ctx context.Context) error {
	smp, err := Take(ctx, s.q, s.cfg)
	if err != nil {
		return err
	}
	if _, err := s.rec.Attest(ctx, smp.Attrs()); err != nil {
		return err
	}
	var alerts [][2]string
	var unexpected []string
	for _, r := range smp.Readers {
		if !slices.Contains(s.cfg.Admins, r) {
			unexpected = append(unexpected, r)
		}
	}
	if len(unexpected) > 0 {
		alerts = append(alerts, [2]string{"bypass_role", "roles beyond custodes' own can read registered datasets: " + strings.Join(unexpected, ", ")})
	}
	if len(smp.DirectSessions) > 0 {
		alerts = append(alerts, [2]string{"bypass_session", fmt.Sprintf("%d session(s) on the agency database did not come through custodes: %s", len(smp.DirectSessions), strings.Join(smp.DirectSessions, ", "))})
	}
	if a, ok := s.observe(smp); ok {
		alerts = append(alerts, a)
	}
	for _, a := range alerts {
		if _, err := s.rec.Alert(ctx, a[0], a[1]); err != nil {
			return err
		}
	}
	return nil
}
