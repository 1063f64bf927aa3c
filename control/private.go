package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/cryptobyte"
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

// Private's journal encoding is binary (version 2), read back only by the
// custodes that wrote it, but parsed strictly, with caps: a journal is a file
// on disk. Built with x/crypto/cryptobyte, all integers big-endian:
//
//	uint8  version = 2
//	[32]   commitment
//	uint64 seen, nanoseconds since the Unix epoch (UTC)
//	uint8  length, tenant (1–255 bytes)
//	uint8  length, unit (0–255 bytes)
//	uint32 length, sealed detail (1–MaxSealed bytes)
//	uint32 count of tokens (at most MaxTokens), then each:
//	  uint8 length, token (1–255 bytes)
//
// and nothing after. Version 1 was JSON (privateJSON), one object starting
// with '{'; journals written by an older custodes still hold it, and
// ParsePrivate reads both. Binary because the gateway encodes one per
// statement and the store decodes it again: JSON was 8% of the gateway's CPU
// under load.
const (
	privateV2 = 2
	// MaxSealed and MaxTokens cap what ParsePrivate accepts.
	MaxSealed = 8 << 20
	MaxTokens = 1 << 20
)

// privateJSON is version 1 of Private's journal encoding.
type privateJSON struct {
	V          int       `json:"v"`
	Commitment []byte    `json:"c"`
	Sealed     []byte    `json:"d"`
	Tenant     string    `json:"t"`
	Unit       string    `json:"u"`
	Tokens     []string  `json:"k,omitempty"`
	Seen       time.Time `json:"s"`
}

// Marshal encodes p for the journal (version 2).
func (p *Private) Marshal() ([]byte, error) {
	if p.Tenant == "" || len(p.Tenant) > 255 || len(p.Unit) > 255 {
		return nil, errors.New("couldn't encode private record: tenant or unit empty or too long")
	}
	if len(p.Sealed) == 0 || len(p.Sealed) > MaxSealed || len(p.Tokens) > MaxTokens {
		return nil, errors.New("couldn't encode private record: detail empty or too large, or too many tokens")
	}
	if !time.Unix(0, p.Seen.UnixNano()).Equal(p.Seen) {
		return nil, errors.New("couldn't encode private record: time out of range")
	}
	n := 1 + 32 + 8 + 1 + len(p.Tenant) + 1 + len(p.Unit) + 4 + len(p.Sealed) + 4
	for _, t := range p.Tokens {
		n += 1 + len(t)
	}
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, n))
	b.AddUint8(privateV2)
	b.AddBytes(p.Commitment[:])
	b.AddUint64(uint64(p.Seen.UnixNano()))
	addString8(b, p.Tenant)
	addString8(b, p.Unit)
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p.Sealed) })
	b.AddUint32(uint32(len(p.Tokens)))
	for _, t := range p.Tokens {
		if t == "" {
			return nil, errors.New("couldn't encode private record: empty token")
		}
		addString8(b, t)
	}
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("couldn't encode private record: %w", err)
	}
	return out, nil
}

func addString8(b *cryptobyte.Builder, s string) {
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

// ParsePrivate decodes what Marshal encoded, in either version.
func ParsePrivate(b []byte) (*Private, error) {
	if len(b) > 0 && b[0] == '{' {
		return parsePrivateJSON(b)
	}
	bad := errors.New("couldn't parse private record: malformed")
	s := cryptobyte.String(b)
	var (
		v            uint8
		commitment   []byte
		seen         uint64
		tenant, unit cryptobyte.String
		sealedLen    uint32
		sealed       []byte
		count        uint32
	)
	if !s.ReadUint8(&v) || v != privateV2 {
		return nil, errors.New("couldn't parse private record: unknown version")
	}
	if !s.ReadBytes(&commitment, 32) || !s.ReadUint64(&seen) ||
		!s.ReadUint8LengthPrefixed(&tenant) || !s.ReadUint8LengthPrefixed(&unit) ||
		!s.ReadUint32(&sealedLen) || sealedLen > MaxSealed || !s.ReadBytes(&sealed, int(sealedLen)) || !s.ReadUint32(&count) {
		return nil, bad
	}
	if len(tenant) == 0 || len(sealed) == 0 || count > MaxTokens || int(count) > len(s) {
		return nil, errors.New("couldn't parse private record: bad tenant, detail or token count")
	}
	p := &Private{Sealed: append([]byte(nil), sealed...), Tenant: string(tenant), Unit: string(unit),
		Seen: time.Unix(0, int64(seen)).UTC()}
	copy(p.Commitment[:], commitment)
	if count > 0 {
		p.Tokens = make([]string, count)
	}
	for i := range p.Tokens {
		var t cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&t) || len(t) == 0 {
			return nil, bad
		}
		p.Tokens[i] = string(t)
	}
	if !s.Empty() {
		return nil, errors.New("couldn't parse private record: trailing data")
	}
	return p, nil
}

// parsePrivateJSON decodes version 1.
func parsePrivateJSON(b []byte) (*Private, error) {
	var j privateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("couldn't parse private record: %w", err)
	}
	if j.V != 1 || len(j.Commitment) != 32 || len(j.Sealed) == 0 || j.Tenant == "" {
		return nil, errors.New("couldn't parse private record: bad version, commitment, detail or tenant")
	}
	if len(j.Tokens) == 0 {
		j.Tokens = nil // as version 2 reads none
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
