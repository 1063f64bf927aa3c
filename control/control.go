// Package control is custodes' control state in PostgreSQL: authorities,
// suspensions, sealed details and the secret keys behind pseudonyms.
//
// The control database is separate from the agency's data, so no analyst SQL
// can reach it, and shared, so several gateway replicas can serve one tenant.
// Everything public can be rebuilt from the log; what is here is what the
// log must not show.
package control

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/authority"
)

// DB is a connection pool to the control database.
type DB struct {
	pool *pgxpool.Pool
	// pseudonymKey keys analyst pseudonyms and authority commitments; loaded
	// once at Open, never changes.
	pseudonymKey []byte
	// cache is set by Watch: nil, nothing is cached.
	cache atomic.Pointer[cache]
	// macs remembers recent keyed names (mac), which every statement asks
	// for again (its analyst, authority, subjects): an HMAC was 4% of the
	// gateway's CPU under load. Bounded: emptied when full.
	macsMu sync.Mutex
	macs   map[string]string
}

const maxMacs = 1 << 16

// Open connects to the control database, whose schema `custodes setup` has
// prepared.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse control URL: %w", err)
	}
	// Every statement reads and writes control state: the pool must not be
	// the bottleneck of sessions (pgxpool's default is 4 connections).
	if cfg.MaxConns < 32 {
		cfg.MaxConns = 32
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("couldn't connect to control database: %w", err)
	}
	db := &DB{pool: pool}
	if db.pseudonymKey, err = db.key(ctx, "pseudonym"); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }

// Ping checks the control database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// key returns the named secret key, creating it on first use. Concurrent
// first uses agree on one key (ON CONFLICT DO NOTHING, then read back).
func (db *DB) key(ctx context.Context, name string) ([]byte, error) {
	k := make([]byte, 32)
	rand.Read(k)
	if _, err := db.pool.Exec(ctx, `INSERT INTO custodes.keys (name, key) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, k); err != nil {
		return nil, fmt.Errorf("couldn't store %s key (has `custodes setup` run?): %w", name, err)
	}
	if err := db.pool.QueryRow(ctx, `SELECT key FROM custodes.keys WHERE name = $1`, name).Scan(&k); err != nil {
		return nil, fmt.Errorf("couldn't read %s key: %w", name, err)
	}
	return k, nil
}

// Pseudonym is the stable public name of an analyst in the log: keyed, so it
// cannot be reversed by guessing names.
func (db *DB) Pseudonym(tenant, analyst string) string {
	return db.mac("analyst", tenant, analyst)[:16]
}

// AuthorityCommitment is the public commitment to an authority id: the log
// shows which entries share an authority without showing its docket.
func (db *DB) AuthorityCommitment(id string) string {
	return db.mac("authority", id)
}

func (db *DB) mac(parts ...string) string {
	// The memo's key is the HMAC's input itself: each part then NUL.
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	in := make([]byte, 0, n)
	for _, p := range parts {
		in = append(append(in, p...), 0)
	}
	db.macsMu.Lock()
	m, ok := db.macs[string(in)]
	db.macsMu.Unlock()
	if ok {
		return m
	}
	h := hmac.New(sha256.New, db.pseudonymKey)
	h.Write(in)
	m = hex.EncodeToString(h.Sum(nil))
	db.macsMu.Lock()
	if db.macs == nil || len(db.macs) >= maxMacs {
		db.macs = make(map[string]string)
	}
	db.macs[string(in)] = m
	db.macsMu.Unlock()
	return m
}

// Authority is a legal basis for person-level reads.
type Authority struct {
	ID          string
	Kind        string // judicial_warrant, court_order, subpoena, administrative
	Reference   string // external reference, e.g. a docket number
	Tenant      string
	Unit        string
	Datasets    []string // "schema.table" names; "*" covers every registered dataset
	Subjects    []int64  // listed subjects, or empty when MaxSubjects caps instead
	MaxSubjects int64
	NotBefore   time.Time
	NotAfter    time.Time
	Approver    string
	Signature   []byte
	Status      string // active, revoked
	IssuedAt    time.Time
}

// Kinds are the authority kinds DESIGN.md defines.
var Kinds = []string{"judicial_warrant", "court_order", "subpoena", "administrative"}

// ActiveAt says whether a is usable at t: not revoked and within its window.
func (a *Authority) ActiveAt(t time.Time) bool {
	return a.Status == "active" && !t.Before(a.NotBefore) && t.Before(a.NotAfter)
}

// Covers says whether a names dataset.
func (a *Authority) Covers(dataset string) bool {
	return slices.Contains(a.Datasets, "*") || slices.Contains(a.Datasets, dataset)
}

// ErrNotFound is returned for an unknown authority.
var ErrNotFound = errors.New("not found")

const authorityColumns = `id, kind, reference, tenant, unit, datasets, subjects, max_subjects,
	not_before, not_after, approver, signature, status, issued_at`

// Authority returns the authority with id, or ErrNotFound. The result may
// be shared with other callers (see Watch): do not modify it.
func (db *DB) Authority(ctx context.Context, id string) (*Authority, error) {
	c := db.cache.Load()
	if c == nil {
		return db.readAuthority(ctx, id)
	}
	a, ok, gen := lookup(c, c.auth, id)
	if ok {
		if a == nil {
			return nil, ErrNotFound
		}
		return a, nil
	}
	at := time.Now()
	a, err := db.readAuthority(ctx, id)
	if err == nil || errors.Is(err, ErrNotFound) {
		store(c, c.auth, id, a, gen, at)
	}
	return a, err
}

func (db *DB) readAuthority(ctx context.Context, id string) (*Authority, error) {
	var a Authority
	err := db.pool.QueryRow(ctx, `SELECT `+authorityColumns+` FROM custodes.authorities WHERE id = $1`, id).Scan(
		&a.ID, &a.Kind, &a.Reference, &a.Tenant, &a.Unit, &a.Datasets, &a.Subjects, &a.MaxSubjects,
		&a.NotBefore, &a.NotAfter, &a.Approver, &a.Signature, &a.Status, &a.IssuedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read authority: %w", err)
	}
	return &a, nil
}

// Authorities lists every authority of tenant, newest first.
func (db *DB) Authorities(ctx context.Context, tenant string) ([]*Authority, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+authorityColumns+` FROM custodes.authorities WHERE tenant = $1 ORDER BY issued_at DESC, id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("couldn't list authorities: %w", err)
	}
	var out []*Authority
	for rows.Next() {
		var a Authority
		if err := rows.Scan(&a.ID, &a.Kind, &a.Reference, &a.Tenant, &a.Unit, &a.Datasets, &a.Subjects, &a.MaxSubjects,
			&a.NotBefore, &a.NotAfter, &a.Approver, &a.Signature, &a.Status, &a.IssuedAt); err != nil {
			return nil, err
		}
		out = append(out, &a)
	}
	return out, rows.Err()
}

// InsertAuthority stores a new authority. It returns false, and changes
// nothing, if an authority with that id exists already.
func (db *DB) InsertAuthority(ctx context.Context, a *Authority) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO custodes.authorities
		(id, kind, reference, tenant, unit, datasets, subjects, max_subjects, not_before, not_after, approver, signature)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT (id) DO NOTHING`,
		a.ID, a.Kind, a.Reference, a.Tenant, a.Unit, a.Datasets, nonNil(a.Subjects), a.MaxSubjects,
		a.NotBefore, a.NotAfter, a.Approver, a.Signature)
	if err != nil {
		return false, fmt.Errorf("couldn't store authority %s: %w", a.ID, err)
	}
	db.cache.Load().invalidate()
	return tag.RowsAffected() == 1, nil
}

func nonNil(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

// Suspension returns whether tenant, or unit within it, is suspended, and why.
func (db *DB) Suspension(ctx context.Context, tenant, unit string) (suspended bool, reason string, err error) {
	c := db.cache.Load()
	if c == nil {
		return db.readSuspension(ctx, tenant, unit)
	}
	k := [2]string{tenant, unit}
	v, ok, gen := lookup(c, c.susp, k)
	if ok {
		return v.suspended, v.reason, nil
	}
	at := time.Now()
	if suspended, reason, err = db.readSuspension(ctx, tenant, unit); err == nil {
		store(c, c.susp, k, suspension{suspended, reason}, gen, at)
	}
	return suspended, reason, err
}

func (db *DB) readSuspension(ctx context.Context, tenant, unit string) (suspended bool, reason string, err error) {
	err = db.pool.QueryRow(ctx, `SELECT reason FROM custodes.suspensions
		WHERE tenant = $1 AND unit IN ('', $2) ORDER BY unit LIMIT 1`, tenant, unit).Scan(&reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("couldn't read suspensions: %w", err)
	}
	return true, reason, nil
}

// Detail returns the sealed detail stored under commitment, or ErrNotFound.
func (db *DB) Detail(ctx context.Context, commitment [32]byte) ([]byte, error) {
	var body []byte
	err := db.pool.QueryRow(ctx, `SELECT body FROM custodes.details WHERE commitment = $1`, commitment[:]).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return body, err
}

// Suspend suspends tenant, or unit within it when unit is not empty. It
// reports false if that was suspended already (the reason is kept).
func (db *DB) Suspend(ctx context.Context, tenant, unit, reason string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO custodes.suspensions (tenant, unit, reason) VALUES ($1, $2, $3)
		ON CONFLICT (tenant, unit) DO NOTHING`, tenant, unit, reason)
	if err != nil {
		return false, fmt.Errorf("couldn't suspend: %w", err)
	}
	db.cache.Load().invalidate()
	return tag.RowsAffected() == 1, nil
}

// Resume lifts the suspension of tenant (unit "") or of one unit. It
// reports false if there was none.
func (db *DB) Resume(ctx context.Context, tenant, unit string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM custodes.suspensions WHERE tenant = $1 AND unit = $2`, tenant, unit)
	if err != nil {
		return false, fmt.Errorf("couldn't resume: %w", err)
	}
	db.cache.Load().invalidate()
	return tag.RowsAffected() == 1, nil
}

// Suspended is one suspension in force.
type Suspended struct {
	Tenant, Unit, Reason string
	Since                time.Time
}

// Suspensions lists the suspensions in force.
func (db *DB) Suspensions(ctx context.Context, tenant string) ([]Suspended, error) {
	rows, err := db.pool.Query(ctx, `SELECT tenant, unit, reason, since FROM custodes.suspensions WHERE tenant = $1 ORDER BY unit`, tenant)
	if err != nil {
		return nil, fmt.Errorf("couldn't list suspensions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Suspended, error) {
		var s Suspended
		err := r.Scan(&s.Tenant, &s.Unit, &s.Reason, &s.Since)
		return s, err
	})
}

// Revoke marks an authority revoked. It reports false if there is no such
// active authority.
func (db *DB) Revoke(ctx context.Context, tenant, id string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE custodes.authorities SET status = 'revoked', revoked_at = now()
		WHERE tenant = $1 AND id = $2 AND status = 'active'`, tenant, id)
	if err != nil {
		return false, fmt.Errorf("couldn't revoke: %w", err)
	}
	db.cache.Load().invalidate()
	return tag.RowsAffected() == 1, nil
}

// Statement is the authority as its approver signed it.
func (a *Authority) Statement() *authority.Statement {
	return &authority.Statement{
		ID: a.ID, Kind: a.Kind, Reference: a.Reference, Tenant: a.Tenant, Unit: a.Unit,
		Datasets: a.Datasets, Subjects: a.Subjects, MaxSubjects: a.MaxSubjects,
		NotBefore: a.NotBefore, NotAfter: a.NotAfter,
	}
}

// FromStatement is the authority a signed statement describes.
func FromStatement(s *authority.Statement, approver string, signed []byte) *Authority {
	return &Authority{
		ID: s.ID, Kind: s.Kind, Reference: s.Reference, Tenant: s.Tenant, Unit: s.Unit,
		Datasets: s.Datasets, Subjects: s.Subjects, MaxSubjects: s.MaxSubjects,
		NotBefore: s.NotBefore, NotAfter: s.NotAfter, Approver: approver, Signature: signed, Status: "active",
	}
}

// Signed checks that a carries its approver's valid signature over exactly
// its fields.
func (a *Authority) Signed(approvers note.Verifiers) error {
	st, who, err := authority.Verify(a.Signature, approvers)
	if err != nil {
		return err
	}
	want, err := a.Statement().Text()
	if err != nil {
		return err
	}
	got, _ := st.Text()
	if got != want || who != a.Approver {
		return errors.New("the stored authority differs from what its approver signed")
	}
	return nil
}
