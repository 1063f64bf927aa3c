package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Sessions of the operator's console. A session is created by the login
// form and lives in memory, in this process only — nothing of it is
// written anywhere, so several console replicas do not share sessions and
// a restart signs every operator out. A session ends at logout, after
// sessionIdle without a request, or sessionLifetime after login,
// whichever comes first. At most maxSessions are kept: a login beyond
// that ends the session closest to its end (and logs that it did).
const (
	sessionCookie   = "custodes_ops"
	sessionLifetime = 12 * time.Hour
	sessionIdle     = time.Hour
	maxSessions     = 64
	maxFormBytes    = 128 << 10
)

type session struct {
	csrf    string
	expires time.Time // sessionLifetime after login
	used    time.Time // the last request
	// flash is the outcome of the last action, shown once.
	flash   string
	flashOK bool
}

// ends is when the session ends if it is not used again.
func (x *session) ends() time.Time {
	if idle := x.used.Add(sessionIdle); idle.Before(x.expires) {
		return idle
	}
	return x.expires
}

type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[string]*session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session and returns its id, and how many live
// sessions it ended to stay within maxSessions. Ended sessions go first,
// then the ones closest to their end.
func (s *sessions) create() (string, *session, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, x := range s.m {
		if !now.Before(x.ends()) {
			delete(s.m, id)
		}
	}
	evicted := 0
	for len(s.m) >= maxSessions {
		var oldest string
		for id, x := range s.m {
			if oldest == "" || x.ends().Before(s.m[oldest].ends()) {
				oldest = id
			}
		}
		delete(s.m, oldest)
		evicted++
	}
	id := randomToken()
	x := &session{csrf: randomToken(), expires: now.Add(sessionLifetime), used: now}
	s.m[id] = x
	return id, x, evicted
}

// get returns the request's live session, or nil, and counts the request
// as the session's use.
func (s *sessions) get(r *http.Request) (string, *session) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.m[ck.Value]
	if x == nil {
		return "", nil
	}
	now := s.now()
	if !now.Before(x.ends()) {
		delete(s.m, ck.Value)
		return "", nil
	}
	x.used = now
	return ck.Value, x
}

// endsOf is when x ends if it is not used again.
func (s *sessions) endsOf(x *session) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return x.ends()
}

// count is the number of sessions kept, ended or not.
func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// setFlash and takeFlash pass an action's outcome to the page the action
// redirects to.
func (s *sessions) setFlash(x *session, msg string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x.flash, x.flashOK = msg, ok
}

func (s *sessions) takeFlash(x *session) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg, ok := x.flash, x.flashOK
	x.flash = ""
	return msg, ok
}

func setSessionCookie(w http.ResponseWriter, r *http.Request, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/ops/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// login checks the token from the form and starts a session. A wrong
// token gets 401 and the form again, with no detail; a client out of
// attempts gets 429 and the form, its token not compared (limit.go).
func (c *console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	token := r.PostFormValue("token")
	noStore(w)
	if token != "" {
		if ok, wait := c.limit.attempt(r); !ok {
			w.Header().Set("Retry-After", retryAfter(wait))
			w.WriteHeader(http.StatusTooManyRequests)
			c.render(w, r, loginTmpl, &loginPage{page: page{Title: "Operator login", Origin: c.cfg.Origin, Nav: "ops"}, TooMany: true})
			return
		}
	}
	if !tokenOK(c.cfg.Token, token) {
		if token != "" {
			c.limit.refused(r)
		}
		w.WriteHeader(http.StatusUnauthorized)
		c.render(w, r, loginTmpl, &loginPage{page: page{Title: "Operator login", Origin: c.cfg.Origin, Nav: "ops"}, Refused: true})
		return
	}
	c.limit.accepted(r)
	id, _, evicted := c.sessions.create()
	if evicted > 0 {
		c.cfg.Logger.Warn("operator sessions ended to make room for a login", "ended", evicted, "max", maxSessions)
	}
	setSessionCookie(w, r, id, int(sessionLifetime/time.Second))
	c.cfg.Logger.Info("operator logged in", "remote", r.RemoteAddr, "sessions", c.sessions.count())
	http.Redirect(w, r, "/ops/", http.StatusSeeOther)
}

func (c *console) logout(w http.ResponseWriter, r *http.Request, id string, _ *session) {
	c.sessions.delete(id)
	c.cfg.Logger.Info("operator logged out", "remote", r.RemoteAddr)
	setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/ops/", http.StatusSeeOther)
}

// form admits a state-changing form only with a live session, a CSRF
// token equal to the session's (compared in constant time) and, when the
// browser says where the form came from, from this console. Anything else
// gets 403 and changes nothing.
func (c *console) form(h func(w http.ResponseWriter, r *http.Request, id string, x *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		id, x := c.sessions.get(r)
		if x == nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != scheme(r)+"://"+r.Host {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "custodes: the form is not readable", http.StatusBadRequest)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(x.csrf)) != 1 {
			c.cfg.Logger.Warn("operator form without a valid CSRF token", "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		h(w, r, id, x)
	})
}

func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }
