package control

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// stateChannel is the NOTIFY channel the control schema's triggers signal on
// every change to authorities and suspensions (migration 4).
const stateChannel = "custodes_state"

// cacheMaxAge bounds how long a cached read is used even while no change
// is heard of: a guard against a notification lost to a bug, not to the
// network (a lost connection drops the cache at once).
const cacheMaxAge = 5 * time.Second

// cache holds authorities and suspensions read from the control database
// while a listener hears of every change to them. It is owned by DB; its
// state is guarded by mu.
type cache struct {
	mu   sync.Mutex
	live bool   // the listener is connected and LISTENing: cached reads are sound
	gen  uint64 // bumped on every invalidation, so a read racing one is not cached
	auth map[string]cached[*Authority]
	susp map[[2]string]cached[suspension]
}

type cached[T any] struct {
	v  T
	at time.Time
}

type suspension struct {
	suspended bool
	reason    string
}

// invalidate forgets everything cached. Callers that change authorities or
// suspensions in this process call it once their change has committed, so
// the change applies to the very next statement; other processes' changes
// arrive through NOTIFY.
func (c *cache) invalidate() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	clear(c.auth)
	clear(c.susp)
	c.mu.Unlock()
}

func (c *cache) setLive(live bool) {
	c.mu.Lock()
	c.live = live
	c.gen++
	clear(c.auth)
	clear(c.susp)
	c.mu.Unlock()
}

// lookup returns a fresh cached value, or the generation to store a read
// under.
func lookup[K comparable, T any](c *cache, m map[K]cached[T], k K) (v T, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		return v, false, 0
	}
	e, ok := m[k]
	if ok && time.Since(e.at) < cacheMaxAge {
		return e.v, true, c.gen
	}
	return v, false, c.gen
}

func store[K comparable, T any](c *cache, m map[K]cached[T], k K, v T, gen uint64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.gen == gen {
		m[k] = cached[T]{v, at}
	}
}

// Watch makes db cache authority and suspension reads for as long as ctx
// lasts, with a dedicated connection that LISTENs for changes. While that
// connection is down nothing is cached: every read goes to the database.
// A change made through db itself applies to the next read; one made by
// another process applies once its notification arrives, normally well
// under a millisecond after it commits.
func (db *DB) Watch(ctx context.Context, log *slog.Logger) {
	c := &cache{auth: map[string]cached[*Authority]{}, susp: map[[2]string]cached[suspension]{}}
	db.cache.Store(c)
	go func() {
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := db.listen(ctx, c)
			c.setLive(false)
			if ctx.Err() != nil {
				return
			}
			log.Warn("control state listener lost; reading authorities and suspensions uncached", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}()
}

// listen LISTENs on one connection and invalidates c on every notification
// until the connection fails or ctx ends.
func (db *DB) listen(ctx context.Context, c *cache) error {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+stateChannel); err != nil {
		return err
	}
	var version int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM custodes.migrations`).Scan(&version); err != nil {
		return err
	}
	if version < 4 {
		return errors.New("the control schema predates change notifications: run `custodes setup`")
	}
	// Whatever changed before LISTEN took effect is not in the cache: it
	// starts empty.
	c.setLive(true)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		c.invalidate()
	}
}
