package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// PolicyVersion returns the version number under which the policy with
// hash was published, or 0 if it never was.
func (db *DB) PolicyVersion(ctx context.Context, hash string) (int, error) {
	var v int
	err := db.pool.QueryRow(ctx, `SELECT version FROM custodes.policies WHERE hash = $1`, hash).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("couldn't read policy versions: %w", err)
	}
	return v, nil
}

// NextPolicyVersion is the version number the next published policy gets.
func (db *DB) NextPolicyVersion(ctx context.Context) (int, error) {
	var v int
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM custodes.policies`).Scan(&v); err != nil {
		return 0, fmt.Errorf("couldn't read policy versions: %w", err)
	}
	return v, nil
}

// PublishedPolicy records that the policy with hash took effect as version,
// in log entry index. Recording a hash twice keeps the first.
func (db *DB) PublishedPolicy(ctx context.Context, hash string, version int, index uint64) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO custodes.policies (hash, version, entry) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		hash, version, int64(index))
	if err != nil {
		return fmt.Errorf("couldn't record policy version: %w", err)
	}
	return nil
}
