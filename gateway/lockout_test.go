package gateway

import (
	"fmt"
	"net"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time                { return c.t }
func (c *fakeClock) add(d time.Duration)           { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock                     { return &fakeClock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (l *lockout) isLocked(user, addr string) bool { _, ok := l.locked(user, addr); return ok }

func TestLockoutBackoff(t *testing.T) {
	clk := newFakeClock()
	l := newLockout(LoginLimits{})
	l.setClock(clk.now)
	fail := func(n int, user, addr string) (started []lock) {
		for range n {
			started = append(started, l.fail(user, addr)...)
			clk.add(time.Second)
		}
		return started
	}

	// Four failures within the window: not yet.
	if s := fail(4, "alice", "10.0.0.1"); len(s) != 0 || l.isLocked("alice", "10.0.0.1") {
		t.Fatalf("locked after 4 failures: %v", s)
	}
	// Failures older than the window do not count.
	clk.add(time.Minute)
	if s := fail(4, "alice", "10.0.0.1"); len(s) != 0 {
		t.Fatalf("failures outside the window counted: %v", s)
	}
	s := fail(1, "alice", "10.0.0.1")
	if len(s) != 1 || s[0].what != "user" || !l.isLocked("alice", "10.0.0.9") {
		t.Fatalf("5th failure within a minute: %v", s)
	}
	// Only alice, from anywhere; others from the same address are not.
	if l.isLocked("bob", "10.0.0.1") {
		t.Fatal("bob locked out by alice's failures")
	}
	// The first lockout lasts a minute; the next, two; then four.
	clk.add(time.Minute)
	if l.isLocked("alice", "10.0.0.1") {
		t.Fatal("still locked after the first backoff")
	}
	fail(5, "alice", "10.0.0.2")
	clk.add(time.Minute + time.Second)
	if !l.isLocked("alice", "10.0.0.1") {
		t.Fatal("the second lockout did not double")
	}
	clk.add(time.Minute)
	if l.isLocked("alice", "10.0.0.1") {
		t.Fatal("the second lockout lasted more than 2m")
	}
	fail(5, "alice", "10.0.0.3")
	clk.add(3*time.Minute + 50*time.Second)
	if !l.isLocked("alice", "10.0.0.1") {
		t.Fatal("the third lockout did not double")
	}
	// Capped at 15m.
	clk.add(time.Minute)
	for range 5 {
		fail(5, "alice", fmt.Sprintf("10.0.1.%d", clk.t.Second()))
		clk.add(15 * time.Minute)
	}
	if l.isLocked("alice", "10.0.0.1") {
		t.Fatal("lockout longer than MaxBackoff")
	}
	// Quiet for MaxBackoff: the backoff starts over at a minute.
	clk.add(20 * time.Minute)
	fail(5, "alice", "10.0.2.1")
	clk.add(time.Minute)
	if l.isLocked("alice", "10.0.0.1") {
		t.Fatal("backoff did not start over after a quiet period")
	}

	// A success clears the user's count but not the address's.
	fail(4, "carol", "10.9.9.9")
	l.succeed("carol")
	if s := fail(1, "carol", "10.9.9.8"); len(s) != 0 {
		t.Fatalf("carol's failures survived her login: %v", s)
	}

	// Twenty failures from one address under twenty names lock the address.
	clk.add(time.Hour)
	var started []lock
	for i := range 20 {
		started = append(started, l.fail(fmt.Sprintf("guess%d", i), "10.5.5.5")...)
	}
	if len(started) != 1 || started[0].what != "address" || !l.isLocked("dave", "10.5.5.5") || l.isLocked("dave", "10.5.5.6") {
		t.Fatalf("address lockout: %v", started)
	}
}

func TestLockoutBounded(t *testing.T) {
	clk := newFakeClock()
	l := newLockout(LoginLimits{})
	l.setClock(clk.now)
	for i := range maxTracked + 100 {
		l.fail(fmt.Sprintf("name%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if len(l.keys) > maxTracked {
		t.Fatalf("%d keys tracked", len(l.keys))
	}
	// Once they are old, they make room.
	clk.add(time.Hour)
	l.fail("late", "10.200.0.1")
	if len(l.keys) > 2 {
		t.Fatalf("%d keys kept after an hour", len(l.keys))
	}
}

func TestClientAddress(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5432":               "127.0.0.1",
		"[::ffff:10.1.2.3]:1":          "10.1.2.3",
		"[2001:db8:1:2:3:4:5:6]:9":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:10000": "2001:db8:1:2::/64",
	} {
		a, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := clientAddress(a); got != want {
			t.Errorf("clientAddress(%s) = %s, want %s", in, got, want)
		}
	}
}
