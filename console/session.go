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
// form and lives in memory, in this process only: a restart, a logout or
// twelve hours end it.
const (
	sessionCookie   = "custodes_ops"
	sessionLifetime = 12 * time.Hour
	maxSessions     = 64
	maxFormBytes    = 128 << 10
)

type session struct {
	csrf    string
	expires time.Time
	// flash is the outcome of the last action, shown once.
	flash   string
	flashOK bool
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session and returns its id. Beyond maxSessions, expired
// sessions go first, then the one closest to expiring.
func (s *sessions) create() (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for id, x := range s.m {
		if now.After(x.expires) {
			delete(s.m, id)
		}
	}
	for len(s.m) >= maxSessions {
		var oldest string
		for id, x := range s.m {
			if oldest == "" || x.expires.Before(s.m[oldest].expires) {
				oldest = id
			}
		}
		delete(s.m, oldest)
	}
	id := randomToken()
	x := &session{csrf: randomToken(), expires: now.Add(sessionLifetime)}
	s.m[id] = x
	return id, x
}

// get returns the request's live session, or nil.
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
	if time.Now().After(x.expires) {
		delete(s.m, ck.Value)
		return "", nil
	}
	return ck.Value, x
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
// token gets 401 and the form again, with no detail.
func (c *console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !tokenOK(c.cfg.Token, r.PostFormValue("token")) {
		c.cfg.Logger.Warn("operator login refused", "remote", r.RemoteAddr)
		noStore(w)
		w.WriteHeader(http.StatusUnauthorized)
		c.render(w, r, loginTmpl, &loginPage{page: page{Title: "Operator login", Nav: "ops"}, Refused: true})
		return
	}
	id, _ := c.sessions.create()
	setSessionCookie(w, r, id, int(sessionLifetime/time.Second))
	c.cfg.Logger.Info("operator logged in", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/ops/", http.StatusSeeOther)
}

func (c *console) logout(w http.ResponseWriter, r *http.Request, id string, _ *session) {
	c.sessions.delete(id)
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
