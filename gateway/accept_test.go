package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// failingListener fails its first Accepts with errs, then accepts from ln.
type failingListener struct {
	net.Listener
	errs []error
}

func (l *failingListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	return l.Listener.Accept()
}

// TestAcceptRidesOutEMFILE: a process out of file descriptors (EMFILE, as
// net.Listener returns it) goes on accepting once it has some again,
// waiting longer between tries, instead of ending the gateway; an error of
// the listener itself still ends it.
func TestAcceptRidesOutEMFILE(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	fl := &failingListener{Listener: ln, errs: []error{emfile, emfile, emfile, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ENFILE)}}}
	var waits []time.Duration
	a := &acceptor{ln: fl, log: slog.New(slog.NewTextHandler(io.Discard, nil)), sleep: func(_ context.Context, d time.Duration) { waits = append(waits, d) }}

	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	conn, err := a.accept(context.Background())
	if err != nil {
		t.Fatalf("accept after EMFILE and ENFILE: %v", err)
	}
	conn.Close()
	if fmt.Sprint(waits) != "[5ms 10ms 20ms 40ms]" {
		t.Errorf("waited %v between tries, want doubling from 5ms", waits)
	}
	if a.delay != 0 {
		t.Errorf("after a success the next wait is %v, want it reset", a.delay)
	}

	// The listener closed: not transient.
	ln.Close()
	if _, err := a.accept(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("accept on a closed listener: %v, want net.ErrClosed", err)
	}
	// Out of descriptors for good, with the server stopping: ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fl.errs = []error{emfile}
	if _, err := a.accept(ctx); !errors.Is(err, syscall.EMFILE) {
		t.Errorf("accept while stopping: %v, want the EMFILE", err)
	}
}
