package gateway

import (
	"crypto/sha256"
	"net"
	"net/netip"
	"sync"
	"time"
)

// LoginLimits slow down password guessing. Failures are counted per user
// name (known or not: the count must not tell them apart) and per client
// address; a name or address with too many failures within Window is
// locked out for a backoff period, during which every attempt fails as a
// wrong password does, whatever the password. All fields have defaults.
//
// The per-user limit is lower than the per-address one because many
// analysts may share an address (an office behind NAT), while a guesser
// trying one name from many addresses is still stopped by the per-user
// limit. The price of the per-user limit is that anyone who can reach the
// gateway can lock an analyst out for a while by failing as them; the
// per-address limit stops them doing so to many analysts from one
// address. Lockouts live in memory: a restart clears them.
type LoginLimits struct {
	// PerUser failures of one user name within Window lock the name out.
	// Default 5.
	PerUser int
	// PerAddress failures from one client address (an IPv6 client's /64)
	// within Window lock the address out. Default 20.
	PerAddress int
	// Window is how far back failures are counted. Default 1m.
	Window time.Duration
	// Backoff is the first lockout's length. Each further lockout of the
	// same name or address doubles it, up to MaxBackoff, until the name or
	// address has had no lockout for MaxBackoff. Defaults 1m and 15m.
	Backoff, MaxBackoff time.Duration
}

func (l *LoginLimits) setDefaults() {
	if l.PerUser <= 0 {
		l.PerUser = 5
	}
	if l.PerAddress <= 0 {
		l.PerAddress = 20
	}
	if l.Window <= 0 {
		l.Window = time.Minute
	}
	if l.Backoff <= 0 {
		l.Backoff = time.Minute
	}
	if l.MaxBackoff < l.Backoff {
		l.MaxBackoff = max(15*time.Minute, l.Backoff)
	}
}

// maxTracked bounds the names and addresses remembered, so that failures
// under ever new names cannot exhaust memory. When the table is full of
// live entries a new name goes uncounted; its address still is.
const maxTracked = 1 << 16

// lockout counts failed logins.
type lockout struct {
	lim LoginLimits

	mu     sync.Mutex
	now    func() time.Time
	keys   map[string]*strikes
	pruned time.Time
}

type strikes struct {
	failures []time.Time // within the window, oldest first
	until    time.Time   // locked out until
	lockouts int         // lockouts in the current run, for the backoff
}

func newLockout(lim LoginLimits) *lockout {
	lim.setDefaults()
	return &lockout{lim: lim, now: time.Now, keys: map[string]*strikes{}}
}

// setClock replaces the clock (tests).
func (l *lockout) setClock(now func() time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
}

// Lock is a lockout in force.
type lock struct {
	what  string // "user" or "address"
	until time.Time
}

// userKey keys a user name by its hash: a name may be 10 kB long.
func userKey(user string) string {
	h := sha256.Sum256([]byte(user))
	return "u\x00" + string(h[:16])
}
func addrKey(addr string) string { return "a\x00" + addr }

// locked returns the lockout in force for user or addr, if any.
func (l *lockout) locked(user, addr string) (lock, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if st := l.keys[userKey(user)]; st != nil && now.Before(st.until) {
		return lock{"user", st.until}, true
	}
	if st := l.keys[addrKey(addr)]; st != nil && now.Before(st.until) {
		return lock{"address", st.until}, true
	}
	return lock{}, false
}

// fail counts a failed login and returns the lockouts it started.
func (l *lockout) fail(user, addr string) []lock {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var started []lock
	if until, ok := l.count(userKey(user), l.lim.PerUser, now); ok {
		started = append(started, lock{"user", until})
	}
	if until, ok := l.count(addrKey(addr), l.lim.PerAddress, now); ok {
		started = append(started, lock{"address", until})
	}
	return started
}

func (l *lockout) count(key string, limit int, now time.Time) (time.Time, bool) {
	st := l.keys[key]
	if st == nil {
		if len(l.keys) >= maxTracked && !l.prune(now) {
			return time.Time{}, false
		}
		st = &strikes{}
		l.keys[key] = st
	}
	st.failures = recent(st.failures, now.Add(-l.lim.Window))
	st.failures = append(st.failures, now)
	if len(st.failures) < limit {
		return time.Time{}, false
	}
	if !st.until.IsZero() && now.Sub(st.until) >= l.lim.MaxBackoff {
		st.lockouts = 0 // quiet long enough: start the backoff over
	}
	backoff := l.lim.Backoff << min(st.lockouts, 30)
	if backoff > l.lim.MaxBackoff || backoff <= 0 {
		backoff = l.lim.MaxBackoff
	}
	st.lockouts++
	st.until = now.Add(backoff)
	st.failures = nil
	return st.until, true
}

// succeed forgets user's failures. An address's are kept: one good login
// must not clear the way for guesses at other names.
func (l *lockout) succeed(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.keys[userKey(user)]; st != nil && !l.now().Before(st.until) {
		delete(l.keys, userKey(user))
	}
}

// prune drops entries that no longer matter, at most once a second, and
// says whether there is room now.
func (l *lockout) prune(now time.Time) bool {
	if now.Sub(l.pruned) >= time.Second || now.Before(l.pruned) {
		l.pruned = now
		for k, st := range l.keys {
			quiet := len(recent(st.failures, now.Add(-l.lim.Window))) == 0
			if quiet && now.Sub(st.until) >= l.lim.MaxBackoff {
				delete(l.keys, k)
			}
		}
	}
	return len(l.keys) < maxTracked
}

// recent drops the times before since from ts (sorted).
func recent(ts []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(since) {
		i++
	}
	return ts[i:]
}

// clientAddress is the address failures are counted under: the client's
// IP, or its /64 for IPv6, where one host commonly holds a whole /64.
func clientAddress(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
