package control

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrations are applied in order, each once, each in its own transaction.
// Never edit a migration that has shipped: add a new one.
var migrations = []string{
	// 1: the first schema.
	`
CREATE SCHEMA IF NOT EXISTS custodes;

-- Secrets custodes derives pseudonyms and commitments with. Never public.
CREATE TABLE custodes.keys (
	name text PRIMARY KEY,
	key  bytea NOT NULL CHECK (length(key) = 32)
);

-- Authorities: the legal basis of every person-level read.
CREATE TABLE custodes.authorities (
	id           text PRIMARY KEY,
	kind         text NOT NULL CHECK (kind IN ('judicial_warrant','court_order','subpoena','administrative')),
	reference    text NOT NULL,
	tenant       text NOT NULL,
	unit         text NOT NULL,
	datasets     text[] NOT NULL,
	subjects     bigint[] NOT NULL DEFAULT '{}',
	max_subjects bigint NOT NULL DEFAULT 0 CHECK (max_subjects >= 0),
	not_before   timestamptz NOT NULL,
	not_after    timestamptz NOT NULL CHECK (not_after > not_before),
	approver     text NOT NULL,
	signature    bytea,
	status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active','revoked')),
	issued_at    timestamptz NOT NULL DEFAULT now(),
	revoked_at   timestamptz,
	CHECK ((cardinality(subjects) > 0) <> (max_subjects > 0))
);

-- Suspensions: unit '' suspends the whole tenant.
CREATE TABLE custodes.suspensions (
	tenant text NOT NULL,
	unit   text NOT NULL DEFAULT '',
	reason text NOT NULL,
	since  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant, unit)
);

-- Sealed details, one per log entry that has one, found by commitment.
CREATE TABLE custodes.details (
	commitment bytea PRIMARY KEY CHECK (length(commitment) = 32),
	body       bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
`,
	// 2: coverage, the distinct subjects each unit has received rows about.
	`
CREATE TABLE custodes.coverage (
	tenant     text NOT NULL,
	unit       text NOT NULL,
	token      text NOT NULL,
	first_seen timestamptz NOT NULL DEFAULT now(),
	last_seen  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant, unit, token)
);
CREATE INDEX coverage_recent ON custodes.coverage (tenant, last_seen, token);
`,
	// 3: policy versions, each published in the log when it takes effect.
	`
CREATE TABLE custodes.policies (
	hash         text PRIMARY KEY,
	version      int NOT NULL UNIQUE,
	published_at timestamptz NOT NULL DEFAULT now(),
	entry        bigint NOT NULL
);
`,
	// 4: gateways cache authorities and suspensions, and hear of every
	// change to them on this channel (control.DB.Watch).
	`
CREATE FUNCTION custodes.notify_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('custodes_state', TG_TABLE_NAME);
	RETURN NULL;
END $$;
CREATE TRIGGER authorities_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON custodes.authorities
	FOR EACH STATEMENT EXECUTE FUNCTION custodes.notify_state();
CREATE TRIGGER suspensions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON custodes.suspensions
	FOR EACH STATEMENT EXECUTE FUNCTION custodes.notify_state();
`,
	// 5: where the storage attestations are in the log, so that a restart
	// seeds the storage sampler's growth window without reading the whole
	// log (control.DB.Attestations).
	`
CREATE TABLE custodes.storage_attestations (
	tenant text NOT NULL,
	entry  bigint NOT NULL,
	at     timestamptz NOT NULL,
	PRIMARY KEY (tenant, entry)
);
CREATE INDEX ON custodes.storage_attestations (tenant, at);
CREATE TABLE custodes.storage_indexed (
	tenant     text PRIMARY KEY,
	indexed_at timestamptz NOT NULL DEFAULT now()
);
`,
}

// Migrate brings the control schema up to date. It is idempotent and safe to
// run while gateways are serving: each migration takes an advisory lock.
func Migrate(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7419801)`); err != nil {
		return fmt.Errorf("couldn't lock for migration: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7419801)`)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS custodes; CREATE TABLE IF NOT EXISTS custodes.migrations (
		version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("couldn't create migrations table: %w", err)
	}
	var have int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM custodes.migrations`).Scan(&have); err != nil {
		return fmt.Errorf("couldn't read schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("control schema version %d is newer than this binary knows (%d)", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO custodes.migrations (version) VALUES ($1)`, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("couldn't apply control migration %d: %w", v, err)
		}
	}
	return nil
}
