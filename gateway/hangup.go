package gateway

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// A client that hangs up while its statement runs would otherwise be
// noticed only when the statement ends (the gateway reads the client again
// only between statements), leaving a backend busy for nobody — for as
// long as the statement takes. While the session waits for the backend,
// watchHangup looks at the client's socket, without reading from it, and
// cancels the backend's query when the client has closed it.
const (
	hangupCheckAfter = time.Second // statements shorter than this are never watched
	hangupCheckEvery = 500 * time.Millisecond
)

// watchHangup starts watching the client for a hang-up and returns the
// function that stops the watch. TLS clients are watched on their TCP
// connection; on Linux the kernel's TCP state shows their FIN behind the
// close_notify they send first, elsewhere only a plain TCP client's end of
// file is seen (hangup_unix.go).
func (s *session) watchHangup() (stop func()) {
	conn := s.client
	if t, ok := conn.(*tls.Conn); ok {
		conn = t.NetConn()
	}
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return func() {}
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return func() {}
	}
	// A timer, not a goroutine: nothing is started for the many statements
	// that finish within hangupCheckAfter.
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	t = time.AfterFunc(hangupCheckAfter, func() {
		if peerClosed(rc) {
			s.srv.log.Info("client hung up during a statement; cancelling it", "analyst", s.analyst)
			s.cancelBackend()
			return
		}
		mu.Lock()
		if !stopped {
			t.Reset(hangupCheckEvery)
		}
		mu.Unlock()
	})
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}
