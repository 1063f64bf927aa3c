package control

import (
	"context"
	"fmt"
	"time"
)

// SubjectToken is the public, keyed pseudonym of a subject: the same person
// always gets the same token, so anyone can count a unit's distinct
// subjects from the log, and nobody without the key can tell who they are.
func (db *DB) SubjectToken(tenant, subject string) string {
	return db.mac("subject", tenant, subject)[:16]
}

// CoverageCounts are distinct subjects within a window.
type CoverageCounts struct {
	Unit, Tenant int64
}

// Coverage counts the distinct subjects unit and tenant have received rows
// about within window, as the counts would be with tokens added.
func (db *DB) Coverage(ctx context.Context, tenant, unit string, tokens []string, window time.Duration) (CoverageCounts, error) {
	var c CoverageCounts
	since := time.Now().Add(-window)
	if tokens == nil {
		tokens = []string{}
	}
	err := db.pool.QueryRow(ctx, `
		WITH recent AS (
			SELECT unit, token FROM custodes.coverage WHERE tenant = $1 AND last_seen > $3
		), added AS (
			SELECT DISTINCT t AS token FROM unnest($4::text[]) t
		)
		SELECT
			(SELECT count(*) FROM (SELECT token FROM recent WHERE unit = $2 UNION SELECT token FROM added) u),
			(SELECT count(*) FROM (SELECT token FROM recent UNION SELECT token FROM added) t)`,
		tenant, unit, since, tokens).Scan(&c.Unit, &c.Tenant)
	if err != nil {
		return c, fmt.Errorf("couldn't count coverage: %w", err)
	}
	return c, nil
}
