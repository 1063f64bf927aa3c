package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Private is what a log entry keeps out of the public log: its sealed
// detail, and the subjects its unit received rows about (coverage). The
// gateway journals it beside the entry, durable in the same fdatasync
// (translog.Log.AppendWith), and StorePrivate writes it here afterwards, in
// batches, off the statement's path.
type Private struct {
	Commitment [32]byte  // the entry's commitment to its detail
	Sealed     []byte    // the detail, sealed to the overseers
	Tenant     string    // the entry's tenant
	Unit       string    // the unit whose analyst made the statement
	Tokens     []string  // subject tokens the unit received rows about
	Seen       time.Time // when: coverage's last_seen, so a replay changes nothing
}

// privateJSON is Private's journal encoding. It is only ever read back by
// the custodes that wrote it, but parsed strictly: a journal is a file on
// disk.
type privateJSON struct {
	V          int       `json:"v"`
	Commitment []byte    `json:"c"`
	Sealed     []byte    `json:"d"`
	Tenant     string    `json:"t"`
	Unit       string    `json:"u"`
	Tokens     []string  `json:"k,omitempty"`
	Seen       time.Time `json:"s"`
}

// Marshal encodes p for the journal.
func (p *Private) Marshal() ([]byte, error) {
	return json.Marshal(privateJSON{V: 1, Commitment: p.Commitment[:], Sealed: p.Sealed,
		Tenant: p.Tenant, Unit: p.Unit, Tokens: p.Tokens, Seen: p.Seen})
}

// ParsePrivate decodes what Marshal encoded.
func ParsePrivate(b []byte) (*Private, error) {
	var j privateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("couldn't parse private record: %w", err)
	}
	if j.V != 1 || len(j.Commitment) != 32 || len(j.Sealed) == 0 || j.Tenant == "" {
		return nil, errors.New("couldn't parse private record: bad version, commitment, detail or tenant")
	}
	p := &Private{Sealed: j.Sealed, Tenant: j.Tenant, Unit: j.Unit, Tokens: j.Tokens, Seen: j.Seen}
	copy(p.Commitment[:], j.Commitment)
	return p, nil
}

// StorePrivate stores the sealed details and coverage of ps in one
// transaction. It is idempotent: a detail stored twice is kept once, and
// coverage keeps the latest sighting of each subject (GREATEST), so
// replaying a journal changes nothing.
func (db *DB) StorePrivate(ctx context.Context, ps []*Private) error {
	if len(ps) == 0 {
		return nil
	}
	var commitments, bodies [][]byte
	type key struct{ tenant, unit, token string }
	seen := map[key]time.Time{}
	for _, p := range ps {
		commitments = append(commitments, p.Commitment[:])
		bodies = append(bodies, p.Sealed)
		for _, t := range p.Tokens {
			k := key{p.Tenant, p.Unit, t}
			if p.Seen.After(seen[k]) {
				seen[k] = p.Seen
			}
		}
	}
	// One row per (tenant, unit, token): ON CONFLICT cannot touch a row
	// twice in one statement.
	var tenants, units, tokens []string
	var times []time.Time
	for k, t := range seen {
		tenants, units, tokens, times = append(tenants, k.tenant), append(units, k.unit), append(tokens, k.token), append(times, t)
	}
	_, err := db.pool.Exec(ctx, `
		WITH d AS (
			INSERT INTO custodes.details (commitment, body)
			SELECT * FROM unnest($1::bytea[], $2::bytea[])
			ON CONFLICT DO NOTHING
		)
		INSERT INTO custodes.coverage AS c (tenant, unit, token, first_seen, last_seen)
		SELECT t, u, k, s, s FROM unnest($3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS x(t, u, k, s)
		ON CONFLICT (tenant, unit, token) DO UPDATE SET last_seen = GREATEST(c.last_seen, excluded.last_seen)`,
		commitments, bodies, tenants, units, tokens, times)
	if err != nil {
		return fmt.Errorf("couldn't store sealed details and coverage: %w", err)
	}
	return nil
}

// Sighting is the latest time unit received rows about a subject token.
type Sighting struct {
	Unit, Token string
	Seen        time.Time
}

// Sightings lists tenant's coverage seen after since: what a gateway loads
// to count coverage in memory.
func (db *DB) Sightings(ctx context.Context, tenant string, since time.Time) ([]Sighting, error) {
	rows, err := db.pool.Query(ctx, `SELECT unit, token, last_seen FROM custodes.coverage WHERE tenant = $1 AND last_seen > $2`, tenant, since)
	if err != nil {
		return nil, fmt.Errorf("couldn't read coverage: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sighting, error) {
		var s Sighting
		err := r.Scan(&s.Unit, &s.Token, &s.Seen)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("couldn't read coverage: %w", err)
	}
	return out, nil
}
