package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Scope writes the database-enforced scope of each analyst's backend
// session: which subjects row-level security lets it see. It connects to
// the agency database as the control role, which owns schema
// custodes_scope; the gateway's backend role can only call the functions
// the policies use (see package setup).
//
// Rows are keyed by backend pid and the backend's scope key (see package
// setup), because pids are reused: a row left by a crashed gateway can never
// scope a later session that happens to get the same pid. The backend's start
// time is kept beside them, to forget rows of backends that have gone.
type Scope struct{ pool *pgxpool.Pool }

// OpenScope connects to the agency database with the control role's
// credentials: the server, database and TLS settings of backendURL (the
// gateway's), the user and password of controlURL. So the control
// database may live on another server than the agency's: the scope table
// is always beside the data it scopes.
func OpenScope(ctx context.Context, backendURL, controlURL string) (*Scope, error) {
	cfg, err := pgxpool.ParseConfig(backendURL)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse backend URL: %w", err)
	}
	ctl, err := pgx.ParseConfig(controlURL)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse control URL: %w", err)
	}
	cfg.ConnConfig.User, cfg.ConnConfig.Password = ctl.User, ctl.Password
	db := cfg.ConnConfig.Database
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("couldn't connect to %s for scopes: %w", db, err)
	}
	s := &Scope{pool: pool}
	// Forget scopes of backends that no longer exist (a gateway that
	// crashed left them): harmless, but clutter.
	if _, err := pool.Exec(ctx, `DELETE FROM custodes_scope.sessions s
		WHERE NOT EXISTS (SELECT 1 FROM pg_stat_get_activity(s.pid) a WHERE a.backend_start = s.started)`); err != nil {
		pool.Close()
		return nil, fmt.Errorf("couldn't clear stale scopes (has `custodes setup` run?): %w", err)
	}
	return s, nil
}

// Close closes the pool.
func (s *Scope) Close() { s.pool.Close() }

// Query runs a read on the agency database as the control role (which may
// read the statistics views): for the storage sampler.
func (s *Scope) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return s.pool.Query(ctx, sql, args...)
}

// SetScope lets backend pid, started with scope key key, see rows of every
// subject (unrestricted, for authorities capped by the result guard) or only
// of subjects. It must be in force once it returns.
func (s *Scope) SetScope(ctx context.Context, pid uint32, key string, unrestricted bool, subjects []string) error {
	if key == "" {
		return fmt.Errorf("couldn't set scope: no scope key")
	}
	if subjects == nil {
		subjects = []string{}
	}
	tag, err := s.exec(ctx, `
		INSERT INTO custodes_scope.sessions (pid, started, key, unrestricted, subjects)
		SELECT $1, a.backend_start, $2, $3, $4 FROM pg_stat_get_activity($1) a WHERE a.backend_start IS NOT NULL
		ON CONFLICT (pid) DO UPDATE SET started = excluded.started, key = excluded.key,
			unrestricted = excluded.unrestricted, subjects = excluded.subjects`,
		int32(pid), key, unrestricted, subjects)
	if err != nil {
		return fmt.Errorf("couldn't set scope: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("couldn't set scope: backend %d not found", pid)
	}
	return nil
}

// ClearScope removes backend pid's scope: it then sees no person-level row.
func (s *Scope) ClearScope(ctx context.Context, pid uint32) error {
	if _, err := s.exec(ctx, `DELETE FROM custodes_scope.sessions WHERE pid = $1`, int32(pid)); err != nil {
		return fmt.Errorf("couldn't clear scope: %w", err)
	}
	return nil
}

// exec runs one of the idempotent statements above. After a failure of the
// connection rather than of the statement — the agency's server restarted,
// or the link to it was cut, and then every idle connection in the pool is
// dead — it drops the pool's connections and tries once more on a new one,
// so that the first session after the server is back is not denied for a
// connection that died while idle. Retrying is safe because running either
// statement twice changes nothing.
func (s *Scope) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := s.pool.Exec(ctx, sql, args...)
	var pe *pgconn.PgError
	if err != nil && !errors.As(err, &pe) && ctx.Err() == nil {
		s.pool.Reset()
		tag, err = s.pool.Exec(ctx, sql, args...)
	}
	return tag, err
}
