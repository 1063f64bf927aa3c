package gateway

import (
	"net"
	"testing"
	"time"
)

// TestFlushTimeout: a client that stops reading is given WriteTimeout, then
// the write fails and the session can end, instead of blocking for ever
// with its backend connection and held result.
func TestFlushTimeout(t *testing.T) {
	c, peer := net.Pipe() // peer never reads
	defer peer.Close()
	defer c.Close()
	s := &session{srv: &Server{cfg: Config{WriteTimeout: 100 * time.Millisecond}}, client: c}
	s.out = make([]byte, 64<<10)
	start := time.Now()
	err := s.flush()
	if err == nil {
		t.Fatal("flush to a client that does not read succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("flush gave up after %v, want about 100ms", d)
	}
}
