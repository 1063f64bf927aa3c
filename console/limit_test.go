package console

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodes/custodes/control"
)

// stubOperator answers the console with nothing: these tests are about
// logging in, not what the console shows.
type stubOperator struct{}

func (stubOperator) Suspend(context.Context, string, string, string) (uint64, error) { return 0, nil }
func (stubOperator) Resume(context.Context, string, string, string) (uint64, error)  { return 0, nil }
func (stubOperator) Suspensions(context.Context) ([]control.Suspended, error)        { return nil, nil }
func (stubOperator) IssueAuthority(context.Context, []byte) (bool, uint64, error) {
	return false, 0, nil
}
func (stubOperator) RevokeAuthority(context.Context, []byte) (uint64, error)       { return 0, nil }
func (stubOperator) Authorities(context.Context) ([]*control.Authority, error)     { return nil, nil }
func (stubOperator) Coverage(context.Context) ([]Coverage, error)                  { return nil, nil }
func (stubOperator) AuthorityUse(context.Context) (map[string]AuthorityUse, error) { return nil, nil }
func (stubOperator) Alerts(context.Context) ([]Alert, error)                       { return nil, nil }

const testToken = "the-operator-token-0123456789abcdef"

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// testConsole is a console with a settable clock and its log in a
// buffer. httptest's recorder runs handlers in the test's goroutine, so
// the buffer needs no lock.
func testConsole(t *testing.T) (http.Handler, *clock, *bytes.Buffer) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	logs := &bytes.Buffer{}
	h := New(Config{Token: testToken, Operator: stubOperator{}, Origin: "test.custodes/agency",
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Now: clk.now})
	return h, clk, logs
}

// login posts the login form from remote and returns the response.
func login(h http.Handler, remote, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/ops/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = remote
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// apiGet reads the operator API from remote with a bearer token ("" for
// no Authorization header).
func apiGet(h http.Handler, remote, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/ops/api/alerts", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.RemoteAddr = remote
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestLoginLimit: five wrong tokens from one address are answered 401,
// then every token from it — the right one too, in the form or as a
// bearer token — gets 429 until a minute has passed; other addresses are
// not held up; a right token gives the address its attempts back. The
// log says what happened and never holds a token.
func TestLoginLimit(t *testing.T) {
	h, clk, logs := testConsole(t)
	const mallory, alice = "192.0.2.7:41000", "198.51.100.3:52000"

	for i := range loginBurst {
		if w := login(h, mallory, "guess-"+strings.Repeat("x", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, w.Code)
		}
	}
	w := login(h, mallory, "guess-again")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("wrong token %d: %d, Retry-After %q; want 429 and 60", loginBurst+1, w.Code, w.Header().Get("Retry-After"))
	}
	if strings.Contains(w.Body.String(), "not accepted") || !strings.Contains(w.Body.String(), `id="too-many"`) {
		t.Errorf("429 page says whether the token was right, or not that there were too many:\n%s", w.Body)
	}
	// From another port of the same address, with the right token: still
	// refused, as is the bearer API.
	if w := login(h, "192.0.2.7:41999", testToken); w.Code != http.StatusTooManyRequests || len(w.Result().Cookies()) != 0 {
		t.Fatalf("right token while locked out: %d, cookies %v; want 429 and no session", w.Code, w.Result().Cookies())
	}
	if w := apiGet(h, mallory, testToken); w.Code != http.StatusTooManyRequests || strings.TrimSpace(w.Body.String()) != "too many requests" {
		t.Fatalf("right bearer token while locked out: %d %q; want 429 and no detail", w.Code, w.Body)
	}
	// Someone else logs in meanwhile.
	if w := login(h, alice, testToken); w.Code != http.StatusSeeOther {
		t.Fatalf("another address with the right token: %d, want 303", w.Code)
	}

	clk.add(59 * time.Second)
	if w := login(h, mallory, testToken); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("after 59s: %d, Retry-After %q; want 429 and 1", w.Code, w.Header().Get("Retry-After"))
	}
	clk.add(time.Second)
	if w := login(h, mallory, testToken); w.Code != http.StatusSeeOther {
		t.Fatalf("after a minute, the right token: %d, want 303", w.Code)
	}
	// The right token gave the address all its attempts back.
	for i := range loginBurst {
		if w := login(h, mallory, "guess"); w.Code != http.StatusUnauthorized {
			t.Fatalf("after a login, wrong token %d: %d, want 401", i+1, w.Code)
		}
	}
	if w := login(h, mallory, "guess"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("after a login and %d wrong tokens: %d, want 429", loginBurst, w.Code)
	}
	// A minute gives one attempt back, not five.
	clk.add(time.Minute)
	if w := login(h, mallory, "guess"); w.Code != http.StatusUnauthorized {
		t.Fatalf("a minute later, one more wrong token: %d, want 401", w.Code)
	}
	if w := login(h, mallory, testToken); w.Code != http.StatusTooManyRequests {
		t.Fatalf("then the right one: %d, want 429", w.Code)
	}

	out := logs.String()
	for _, want := range []string{"operator token refused", "attempts_left=4", "locked out", "remote=192.0.2.7:41000", "operator logged in"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, testToken) || strings.Contains(out, "guess") {
		t.Errorf("the log holds a token:\n%s", out)
	}
}

// TestBearerLimit: wrong bearer tokens spend the same attempts as the
// login form; requests without a token spend none.
func TestBearerLimit(t *testing.T) {
	h, clk, _ := testConsole(t)
	const scraper, guesser = "203.0.113.9:9000", "[2001:db8:1:2::10]:443"
	for range 3 * loginBurst {
		if w := apiGet(h, scraper, ""); w.Code != http.StatusUnauthorized {
			t.Fatalf("no token: %d, want 401", w.Code)
		}
	}
	if w := apiGet(h, scraper, testToken); w.Code != http.StatusOK {
		t.Fatalf("after requests without a token, the right one: %d, want 200", w.Code)
	}

	for range loginBurst {
		if w := apiGet(h, guesser, "nope"); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong bearer token: %d, want 401", w.Code)
		}
	}
	// Another address in the same IPv6 /64 is the same client.
	if w := login(h, "[2001:db8:1:2::99]:443", testToken); w.Code != http.StatusTooManyRequests {
		t.Fatalf("login from the same /64 after %d wrong bearer tokens: %d, want 429", loginBurst, w.Code)
	}
	if w := login(h, "[2001:db8:1:3::10]:443", testToken); w.Code != http.StatusSeeOther {
		t.Fatalf("login from another /64: %d, want 303", w.Code)
	}
	clk.add(loginRefill)
	if w := apiGet(h, guesser, testToken); w.Code != http.StatusOK {
		t.Fatalf("a minute later, the right bearer token: %d, want 200", w.Code)
	}
}

// TestLimiterBounded: the limiter tracks at most maxClients addresses;
// beyond that, new ones share one allowance, and addresses whose
// allowance has refilled are forgotten first.
func TestLimiterBounded(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	logs := &bytes.Buffer{}
	l := newLoginLimiter(clk.now, slog.New(slog.NewTextHandler(logs, nil)))
	req := func(i int) *http.Request {
		r := httptest.NewRequest("GET", "/ops/api/alerts", nil)
		r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1", i>>16, i>>8&255, i&255)
		return r
	}
	for i := range maxClients {
		if ok, _ := l.attempt(req(i)); !ok {
			t.Fatalf("client %d refused its first attempt", i)
		}
	}
	if len(l.clients) != maxClients {
		t.Fatalf("%d clients tracked, want %d", len(l.clients), maxClients)
	}
	// New clients share the overflow allowance.
	for i := range loginBurst {
		if ok, _ := l.attempt(req(maxClients + i)); !ok {
			t.Fatalf("overflow client %d refused", i)
		}
	}
	if ok, _ := l.attempt(req(maxClients + loginBurst)); ok {
		t.Fatal("overflow clients got more than one allowance between them")
	}
	if len(l.clients) != maxClients || !strings.Contains(logs.String(), "share one allowance") {
		t.Fatalf("%d clients tracked; log:\n%s", len(l.clients), logs)
	}
	// Once the tracked clients' allowances refill they are forgotten, and
	// a new client has its own again.
	clk.add(loginRefill)
	if ok, _ := l.attempt(req(maxClients + 100)); !ok {
		t.Fatal("a new client after the others refilled was refused")
	}
	if len(l.clients) != 1 {
		t.Errorf("%d clients tracked after all but one refilled, want 1", len(l.clients))
	}
}

// TestSessions: a session ends at logout, after an hour without use, or
// twelve hours after login however much it is used; at most maxSessions
// are kept.
func TestSessions(t *testing.T) {
	h, clk, logs := testConsole(t)
	const remote = "192.0.2.50:5000"
	start := func() *http.Cookie {
		t.Helper()
		w := login(h, remote, testToken)
		if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
			t.Fatalf("login: %d %v", w.Code, w.Result().Cookies())
		}
		return w.Result().Cookies()[0]
	}
	page := func(ck *http.Cookie) string {
		t.Helper()
		req := httptest.NewRequest("GET", "/ops/", nil)
		req.AddCookie(ck)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("GET /ops/: %d", w.Code)
		}
		switch b := w.Body.String(); {
		case strings.Contains(b, `id="logout"`):
			return b
		case strings.Contains(b, `id="login"`):
			return ""
		default:
			t.Fatalf("GET /ops/ is neither the console nor the login form:\n%s", b)
		}
		return ""
	}

	// Idle.
	ck := start()
	b := page(ck)
	if b == "" || !strings.Contains(b, "session ends 2026-03-01 13:00:00Z if idle") {
		t.Fatalf("the console does not say when the session ends:\n%s", b)
	}
	clk.add(59 * time.Minute)
	if page(ck) == "" {
		t.Fatal("a session used 59 minutes ago has ended")
	}
	clk.add(time.Hour)
	if page(ck) != "" {
		t.Fatal("a session an hour idle is still live")
	}

	// Lifetime.
	ck = start()
	for range 14 {
		clk.add(50 * time.Minute) // 11h40m in all
		if page(ck) == "" {
			t.Fatal("a session in use ended before twelve hours")
		}
	}
	clk.add(20 * time.Minute)
	if page(ck) != "" {
		t.Fatal("a session is still live twelve hours after login")
	}

	// Logout.
	ck = start()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page(ck))
	if csrf == nil {
		t.Fatal("no CSRF token on the console")
	}
	req := httptest.NewRequest("POST", "/ops/logout", strings.NewReader(url.Values{"csrf": {csrf[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(ck)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther || page(ck) != "" {
		t.Fatalf("logout: %d, and the session is still live: %v", w.Code, page(ck) != "")
	}

	// Bounded: a login beyond maxSessions ends the session closest to
	// its end — not the oldest one if that one is in use.
	first := start()
	clk.add(time.Minute)
	for range maxSessions - 1 {
		start()
	}
	clk.add(time.Minute)
	if page(first) == "" { // first is now the last to end
		t.Fatalf("with %d sessions, the first has ended", maxSessions)
	}
	if strings.Contains(logs.String(), "make room") {
		t.Fatalf("%d sessions made room for themselves:\n%s", maxSessions, logs)
	}
	start()
	if page(first) == "" {
		t.Fatal("the session just used was ended to make room")
	}
	if !strings.Contains(logs.String(), "operator sessions ended to make room") {
		t.Errorf("the log does not say a session was ended to make room:\n%s", logs)
	}
}
