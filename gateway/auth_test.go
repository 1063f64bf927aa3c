package gateway_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/gateway"
	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

// TestAuthSCRAMOnly: the gateway offers SCRAM-SHA-256 and nothing else in
// the clear; a client that answers with a cleartext password, or picks a
// mechanism not offered, is refused before any session; an unknown user's
// exchange looks like a known user's.
func TestAuthSCRAMOnly(t *testing.T) {
	st := teststack.Start(t, 200)
	db := st.Config.BackendDatabase()
	hello := func(user string) *rawConn {
		r := dialRaw(t, st.Addr)
		r.startup(pgproto3.ProtocolVersion30, map[string]string{"user": user, "database": db})
		if got := r.recv(); got != "AuthenticationSASL SCRAM-SHA-256" {
			t.Fatalf("offered %s, want exactly SCRAM-SHA-256", got)
		}
		return r
	}

	t.Run("cleartext password refused", func(t *testing.T) {
		r := hello("alice")
		// The right password, in the clear, as a PasswordMessage.
		r.send(&pgproto3.PasswordMessage{Password: "alice"})
		got := r.recv()
		if !strings.HasPrefix(got, "ErrorResponse FATAL 08P01") {
			t.Fatalf("cleartext PasswordMessage answered %s", got)
		}
		if !r.closed() {
			t.Fatal("the gateway kept the connection open")
		}
	})

	t.Run("mechanism not offered", func(t *testing.T) {
		for _, mech := range []string{"SCRAM-SHA-256-PLUS", "PLAIN", "md5", strings.Repeat("X", 5000)} {
			r := hello("alice")
			r.send(&pgproto3.SASLInitialResponse{AuthMechanism: mech, Data: []byte("n,,n=,r=abc")})
			if got := r.recv(); !strings.HasPrefix(got, "ErrorResponse FATAL 08P01") || len(got) > 300 {
				t.Fatalf("mechanism %.20q answered %.400s", mech, got)
			}
		}
	})

	t.Run("unknown user looks known", func(t *testing.T) {
		first := func(user string) (salt, iters string) {
			r := hello(user)
			r.send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=clientnonce0123456789")})
			m, err := r.fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			c, ok := m.(*pgproto3.AuthenticationSASLContinue)
			if !ok {
				t.Fatalf("%s: %s", user, describe(m))
			}
			for _, kv := range strings.Split(string(c.Data), ",") {
				switch {
				case strings.HasPrefix(kv, "s="):
					salt = kv[2:]
				case strings.HasPrefix(kv, "i="):
					iters = kv[2:]
				}
			}
			return salt, iters
		}
		aliceSalt, aliceIters := first("alice")
		if s, _ := first("alice"); s != aliceSalt {
			t.Fatal("alice's salt changed between attempts")
		}
		mSalt, mIters := first("mallory")
		if s, _ := first("mallory"); s != mSalt {
			t.Fatal("an unknown user's salt changes between attempts: unknown names can be told from known ones")
		}
		if mSalt == aliceSalt || len(mSalt) != len(aliceSalt) || mIters != aliceIters {
			t.Fatalf("unknown user's salt %q/%s vs alice's %q/%s", mSalt, mIters, aliceSalt, aliceIters)
		}
	})

	t.Run("oversized auth message", func(t *testing.T) {
		r := hello("alice")
		// A SASLInitialResponse header announcing 100 MB: refused at once,
		// not buffered.
		hdr := []byte{'p', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(hdr[1:], 100<<20)
		start := time.Now()
		if _, err := r.conn.Write(hdr); err != nil {
			t.Fatal(err)
		}
		if !r.closed() || time.Since(start) > 5*time.Second {
			t.Fatal("the gateway waited for a 100 MB authentication message")
		}
	})

	// And the gateway still serves.
	lawful(t, connect(t, st, "alice", ""))
}

// dialFrom connects as user with password from the local address ip.
func dialFrom(ctx context.Context, st *teststack.Stack, ip, user, password string) error {
	cfg, err := pgx.ParseConfig(strings.Replace(st.URL(user), user+":"+user+"@", user+":"+password+"@", 1))
	if err != nil {
		return err
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	cfg.DialFunc = d.DialContext
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	var one int
	return c.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// authFailed checks err is the generic 28P01 failure.
func authFailed(t *testing.T, err error, user string) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" || pe.Message != `password authentication failed for user "`+user+`"` {
		t.Fatalf("want 28P01 password authentication failed, got %v", err)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestAuthLockout: five wrong passwords for one analyst within a minute
// lock that name out; then even the right password is refused, with the
// same error as a wrong one, until the backoff has passed (on an injected
// clock), and other analysts are not affected. Twenty failures from one
// address lock the address, not others. Each failed proof is a
// login_failure entry; attempts refused while locked out are not.
func TestAuthLockout(t *testing.T) {
	st := teststack.Start(t, 200)
	clk := &clock{t: time.Now()}
	gateway.SetLoginClock(st.Service.Gateway(), clk.Now)
	ctx := context.Background()
	const here, there = "127.0.0.1", "127.0.0.2"

	const wrong = "Tr0ub4dor&3-wrong"
	for range 5 {
		authFailed(t, dialFrom(ctx, st, here, "alice", wrong), "alice")
	}
	// Locked: the right password fails, from anywhere, exactly as a
	// wrong one does.
	authFailed(t, dialFrom(ctx, st, here, "alice", "alice"), "alice")
	authFailed(t, dialFrom(ctx, st, there, "alice", "alice"), "alice")
	// Others are not affected, from the same address.
	if err := dialFrom(ctx, st, here, "bob", "bob"); err != nil {
		t.Fatalf("bob, while alice is locked out: %v", err)
	}
	clk.Add(59 * time.Second)
	authFailed(t, dialFrom(ctx, st, here, "alice", "alice"), "alice")
	clk.Add(2 * time.Second)
	if err := dialFrom(ctx, st, here, "alice", "alice"); err != nil {
		t.Fatalf("alice after the backoff: %v", err)
	}

	// Twenty failures from one address, under names known and unknown.
	clk.Add(time.Hour)
	for i := range 20 {
		// Four each: no name reaches its own limit.
		user := []string{"mallory", "trent", "bob", "eve", "alice"}[i%5]
		authFailed(t, dialFrom(ctx, st, here, user, "guess"), user)
	}
	authFailed(t, dialFrom(ctx, st, here, "carol", "carol"), "carol")
	if err := dialFrom(ctx, st, there, "carol", "carol"); err != nil {
		t.Fatalf("carol from another address: %v", err)
	}
	clk.Add(61 * time.Second)
	if err := dialFrom(ctx, st, here, "carol", "carol"); err != nil {
		t.Fatalf("carol after the address's backoff: %v", err)
	}

	// The operator's log says what happened, and holds no password.
	logged := st.Logged()
	for _, want := range []string{
		`msg="login failed" component=gateway user=alice remote=127.0.0.1 known=true`,
		`msg="login failed" component=gateway user=mallory remote=127.0.0.1 known=false`,
		`msg="login locked out after repeated failures" component=gateway user=alice remote=127.0.0.1 locked=user`,
		`msg="login refused: locked out after repeated failures" component=gateway user=alice remote=127.0.0.2 locked=user`,
		`msg="login locked out after repeated failures" component=gateway user=alice remote=127.0.0.1 locked=address`,
		`msg="login refused: locked out after repeated failures" component=gateway user=carol remote=127.0.0.1 locked=address`,
	} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	if strings.Contains(logged, wrong) || strings.Contains(logged, "guess") {
		t.Error("a password is in the log")
	}

	// 5 + 20 failed proofs are in the log; the 4 refused attempts are not.
	time.Sleep(1500 * time.Millisecond)
	src, err := translog.OpenSource(st.LogDir)
	if err != nil {
		t.Fatal(err)
	}
	failures := 0
	if _, err := translog.Verify(ctx, src, st.VKey, translog.VerifyOptions{Entry: func(i uint64, data []byte) error {
		e, err := record.Parse(data)
		if err == nil && e.Kind == record.KindLoginFailure {
			failures++
		}
		return err
	}}); err != nil {
		t.Fatal(err)
	}
	if failures != 25 {
		t.Fatalf("%d login_failure entries, want 25", failures)
	}
}
