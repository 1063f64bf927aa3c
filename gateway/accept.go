package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// acceptor accepts connections, riding out errors that say the process or
// the system is short of something for a moment — out of file descriptors
// (EMFILE, ENFILE), of buffers or memory, or a connection reset before it
// was accepted — by waiting and trying again, as net/http does. Sessions
// already open go on meanwhile; only an error of the listener itself ends
// Serve. Owned by Serve's goroutine.
type acceptor struct {
	ln    net.Listener
	log   *slog.Logger
	delay time.Duration // the wait before the next retry; 0 after a success
	sleep func(ctx context.Context, d time.Duration)
}

// maxAcceptDelay caps the wait between retries.
const maxAcceptDelay = time.Second

func (a *acceptor) accept(ctx context.Context) (net.Conn, error) {
	for {
		conn, err := a.ln.Accept()
		if err == nil {
			a.delay = 0
			return conn, nil
		}
		if ctx.Err() != nil || !transient(err) {
			return nil, err
		}
		a.delay = min(max(2*a.delay, 5*time.Millisecond), maxAcceptDelay)
		a.log.Warn("couldn't accept a connection; retrying", "err", err, "in", a.delay)
		a.sleep(ctx, a.delay)
	}
}

func transient(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
