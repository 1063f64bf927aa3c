package console

import (
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Guessing the operator token. Every token presented to the console —
// the login form's, and the bearer token of /ops/api/… and /metrics —
// spends one attempt of the client's allowance before it is compared (in
// constant time): loginBurst attempts at once, then one more every
// loginRefill. A client with no attempt left gets 429 Too Many Requests,
// with a Retry-After header and no detail, and its token is not even
// compared, so the right token is refused too until the allowance
// refills. A right token gives the client its whole allowance back.
//
// A client is its IP address as the console sees it (an IPv6 client, its
// /64): behind a reverse proxy every client is the proxy. Requests that
// present no token spend nothing. At most maxClients clients are tracked;
// beyond that, new ones share one allowance.
const (
	loginBurst  = 5
	loginRefill = time.Minute
	maxClients  = 4096
)

type loginLimiter struct {
	now func() time.Time
	log *slog.Logger

	mu       sync.Mutex
	clients  map[netip.Prefix]*rate.Limiter
	overflow *rate.Limiter
	// overflowed is whether the overflow allowance has been logged.
	overflowed bool
}

func newLoginLimiter(now func() time.Time, log *slog.Logger) *loginLimiter {
	return &loginLimiter{now: now, log: log, clients: map[netip.Prefix]*rate.Limiter{},
		overflow: rate.NewLimiter(rate.Every(loginRefill), loginBurst)}
}

func newAllowance() *rate.Limiter { return rate.NewLimiter(rate.Every(loginRefill), loginBurst) }

// clientOf is the request's client: its address, an IPv6 one cut to its /64.
func clientOf(r *http.Request) netip.Prefix {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// Not ip:port (a test's or a unix socket's address): all such
		// clients are one.
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// attempt spends one attempt of the client's allowance. It returns false,
// and how long until the client may try again, when none is left.
func (l *loginLimiter) attempt(r *http.Request) (bool, time.Duration) {
	now := l.now()
	key := clientOf(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.clients[key]
	if lim == nil {
		lim = l.track(key, now)
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	// Rounded to the millisecond: the float arithmetic is not exact.
	wait := time.Duration((1 - lim.TokensAt(now)) * float64(loginRefill)).Round(time.Millisecond)
	return false, wait
}

// track starts tracking key, or returns the overflow allowance when
// maxClients are tracked and none of them can be forgotten.
func (l *loginLimiter) track(key netip.Prefix, now time.Time) *rate.Limiter {
	if len(l.clients) >= maxClients {
		// A client whose allowance is whole is no different from one
		// never seen.
		for k, lim := range l.clients {
			if lim.TokensAt(now) >= loginBurst {
				delete(l.clients, k)
			}
		}
	}
	if len(l.clients) >= maxClients {
		if !l.overflowed {
			l.overflowed = true
			l.log.Warn("operator token: more clients are guessing than the console tracks; new ones share one allowance", "tracked", len(l.clients))
		}
		return l.overflow
	}
	lim := newAllowance()
	l.clients[key] = lim
	return lim
}

// refused records a wrong token, and logs it (never the token).
func (l *loginLimiter) refused(r *http.Request) {
	now := l.now()
	key := clientOf(r)
	l.mu.Lock()
	lim := l.clients[key]
	if lim == nil {
		lim = l.overflow
	}
	left := int(lim.TokensAt(now))
	l.mu.Unlock()
	if left == 0 {
		l.log.Warn("operator token refused; this client is locked out until its attempts refill", "remote", r.RemoteAddr,
			"path", r.URL.Path, "retry_after", loginRefill)
		return
	}
	l.log.Warn("operator token refused", "remote", r.RemoteAddr, "path", r.URL.Path, "attempts_left", left)
}

// accepted gives the client its whole allowance back.
func (l *loginLimiter) accepted(r *http.Request) {
	key := clientOf(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.clients, key)
}

// tooMany answers a client that has no attempt left.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", retryAfter(wait))
	noStore(w)
	http.Error(w, "too many requests", http.StatusTooManyRequests)
}

// retryAfter is wait in whole seconds, rounded up, at least 1.
func retryAfter(wait time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(wait.Seconds()))), 10)
}
