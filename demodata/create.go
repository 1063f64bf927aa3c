package demodata

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// lockKey serialises concurrent Creates on one database (pg_advisory_xact_lock).
const lockKey = 0x637573746f646d6f

// Create makes the demo tables in schema public of conn's database if they don't exist and,
// if persons is empty, loads the data for n persons, reporting whether it did. Everything
// happens in one transaction, so an interrupted load leaves no tables and no rows behind.
//
// progress, if not nil, is called from time to time with the rows loaded so far and the
// total to load; the last call has done == total.
func Create(ctx context.Context, conn *pgx.Conn, n int, progress func(done, total int64)) (loaded bool, err error) {
	if n < 1 {
		return false, fmt.Errorf("couldn't create demo data: %d persons, want at least 1", n)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("couldn't begin demo data transaction: %w", err)
	}
	defer tx.Rollback(ctx)

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(lockKey)); err != nil {
		return false, fmt.Errorf("couldn't lock demo data: %w", err)
	}
	for _, q := range tablesDDL {
		if _, err := tx.Exec(ctx, q); err != nil {
			return false, fmt.Errorf("couldn't create demo table: %w", err)
		}
	}
	var empty bool
	if err := tx.QueryRow(ctx, "SELECT NOT EXISTS (SELECT FROM public.persons)").Scan(&empty); err != nil {
		return false, fmt.Errorf("couldn't check for demo persons: %w", err)
	}
	if empty {
		if err := load(ctx, tx, newGenerator(int64(n)), progress); err != nil {
			return false, err
		}
	}
	if err := constrain(ctx, tx); err != nil {
		return false, err
	}
	if empty {
		// Planner statistics, so that the demo's first queries use the indexes.
		if _, err := tx.Exec(ctx, "ANALYZE public.addresses, public.persons, public.location_pings, public.utility_accounts, public.social_posts, public.case_files"); err != nil {
			return false, fmt.Errorf("couldn't analyze demo tables: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("couldn't commit demo data: %w", err)
	}
	return empty, nil
}

// progressEvery is how many rows go in between progress calls.
const progressEvery = 4096

func load(ctx context.Context, tx pgx.Tx, g *generator, progress func(done, total int64)) error {
	if progress == nil {
		progress = func(done, total int64) {}
	}
	var done, total int64
	for _, t := range tables {
		total += g.count(t)
	}
	progress(0, total)
	onRow := func() {
		if done++; done%progressEvery == 0 {
			progress(done, total)
		}
	}
	for _, t := range tables {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"public", t.name}, t.columns, pgx.CopyFromFunc(g.rows(t, onRow))); err != nil {
			return fmt.Errorf("couldn't load demo table %s: %w", t.name, err)
		}
	}
	if done != total {
		return errors.New("couldn't load demo data: generated row count differs from its own estimate") // a bug here, not in the database
	}
	progress(done, total)
	return nil
}

// constrain adds the foreign keys and indexes that don't exist yet.
func constrain(ctx context.Context, tx pgx.Tx) error {
	for _, fk := range foreignKeys {
		var exists bool
		err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conname = $1 AND conrelid = $2::regclass)",
			fk.name, "public."+fk.table).Scan(&exists)
		if err != nil {
			return fmt.Errorf("couldn't look up constraint %s: %w", fk.name, err)
		}
		if exists {
			continue
		}
		q := fmt.Sprintf("ALTER TABLE public.%s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES public.%s",
			fk.table, fk.name, fk.column, fk.references)
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("couldn't add constraint %s: %w", fk.name, err)
		}
	}
	for _, q := range indexesDDL {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("couldn't create demo index: %w", err)
		}
	}
	return nil
}
