package control

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// An Attestation says where one storage attestation of a tenant is in the
// log: its entry index and when it was taken. It is only a pointer: the
// entry itself, proven included in the log, is what counts.
type Attestation struct {
	Entry uint64
	At    time.Time
}

// insertAttestation remembers one pointer; a second time changes nothing.
const insertAttestation = `INSERT INTO custodes.storage_attestations (tenant, entry, at) VALUES ($1, $2, $3)
	ON CONFLICT DO NOTHING`

// RecordAttestation remembers that the log's entry index is a storage
// attestation of tenant taken at at. Recording it twice changes nothing.
func (db *DB) RecordAttestation(ctx context.Context, tenant string, index uint64, at time.Time) error {
	if _, err := db.pool.Exec(ctx, insertAttestation, tenant, int64(index), at); err != nil {
		return fmt.Errorf("couldn't record storage attestation: %w", err)
	}
	return nil
}

// Attestations returns tenant's remembered attestations taken at or after
// since, in entry order. indexed is false if tenant's log was never read
// whole into this table (a control database older than the table): the
// caller then reads the log once and hands what it found to
// IndexAttestations.
func (db *DB) Attestations(ctx context.Context, tenant string, since time.Time) (atts []Attestation, indexed bool, err error) {
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM custodes.storage_indexed WHERE tenant = $1)`, tenant).Scan(&indexed); err != nil {
		return nil, false, fmt.Errorf("couldn't read storage attestations: %w", err)
	}
	if !indexed {
		return nil, false, nil
	}
	rows, _ := db.pool.Query(ctx, `SELECT entry, at FROM custodes.storage_attestations WHERE tenant = $1 AND at >= $2 ORDER BY entry`, tenant, since)
	atts, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Attestation])
	if err != nil {
		return nil, false, fmt.Errorf("couldn't read storage attestations: %w", err)
	}
	return atts, true, nil
}

// IndexAttestations stores every attestation a whole read of tenant's log
// found, and marks the log indexed: from then on RecordAttestation keeps
// the table up to date.
func (db *DB) IndexAttestations(ctx context.Context, tenant string, found []Attestation) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		for _, a := range found {
			if _, err := tx.Exec(ctx, insertAttestation, tenant, int64(a.Entry), a.At); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO custodes.storage_indexed (tenant) VALUES ($1) ON CONFLICT DO NOTHING`, tenant)
		return err
	})
	if err != nil {
		return fmt.Errorf("couldn't index storage attestations: %w", err)
	}
	return nil
}
