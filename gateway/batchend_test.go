package gateway_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/pgtest"
)

// cutMarker in a statement's text makes cutProxy break that backend
// connection right after the backend's CommandComplete, before its
// ReadyForQuery: the database failing between a result and the end of
// its batch.
const cutMarker = "/*cut*/"

// cutProxy stands between the gateway and a real PostgreSQL. It relays
// every connection as it is, except one whose client sent cutMarker: that
// one it closes after relaying the backend's next CommandComplete.
type cutProxy struct {
	ln       net.Listener
	upstream string
	wg       sync.WaitGroup
}

func startCutProxy(t *testing.T, upstream string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream}
	p.wg.Go(p.serve)
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.relay(c) })
	}
}

func (p *cutProxy) relay(c net.Conn) {
	defer c.Close()
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer u.Close()
	armed := make(chan struct{})
	go func() {
		// Client to server, watching for the marker (a statement's text
		// is in one message, so in one read or across two: the tail of
		// the last read is kept).
		var tail []byte
		buf := make([]byte, 32<<10)
		once := sync.Once{}
		for {
			n, err := c.Read(buf)
			if n > 0 {
				seen := append(tail, buf[:n]...)
				if bytes.Contains(seen, []byte(cutMarker)) {
					once.Do(func() { close(armed) })
				}
				tail = append([]byte(nil), seen[max(0, len(seen)-len(cutMarker)):]...)
				if _, err := u.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				u.Close()
				return
			}
		}
	}()
	// Server to client, message by message after the start-up.
	for {
		var h [5]byte
		if _, err := io.ReadFull(u, h[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(h[1:]))
		msg := make([]byte, 1+n)
		copy(msg, h[:])
		if _, err := io.ReadFull(u, msg[5:]); err != nil {
			return
		}
		if _, err := c.Write(msg); err != nil {
			return
		}
		select {
		case <-armed:
			if h[0] == 'C' {
				return // the ReadyForQuery behind it never arrives
			}
		default:
		}
	}
}

// proxied is the shared test cluster reached through a cutProxy, except
// for the superuser's set-up connections.
type proxied struct {
	teststack.Cluster
	addr *net.TCPAddr
}

func (p proxied) Host() string { return p.addr.IP.String() }
func (p proxied) Port() int    { return p.addr.Port }

// TestNoResultThenError: a statement whose backend fails after its result
// and before the end of its batch gives the client an error and no rows —
// never a result and then an error, which a client may take for an answer
// it then sees fail. The rows were recorded before they could have been
// released, so the record still covers everything the client could have
// received.
func TestNoResultThenError(t *testing.T) {
	c := pgtest.Cluster(t)
	p := startCutProxy(t, net.JoinHostPort(c.Host(), fmt.Sprint(c.Port())))
	st := teststack.StartSplit(t, proxied{c, p.ln.Addr().(*net.TCPAddr)}, c, 200)

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			conn := connectMode(t, st, "alice", "-c custodes.authority=W-DEMO-1", mode)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// The session works through the proxy.
			var name string
			if err := conn.QueryRow(ctx, "SELECT full_name FROM persons WHERE person_id = 101").Scan(&name); err != nil {
				t.Fatalf("a read through the proxy: %v", err)
			}
			rows, err := conn.Query(ctx, "SELECT "+cutMarker+" full_name FROM persons WHERE person_id = 102")
			got := 0
			if err == nil {
				for rows.Next() {
					got++
				}
				rows.Close()
				err = rows.Err()
			}
			var pe *pgconn.PgError
			switch {
			case err == nil:
				t.Fatalf("the read whose backend failed succeeded with %d rows", got)
			case got > 0:
				t.Fatalf("the read released %d rows and then failed: %v", got, err)
			case !errors.As(err, &pe) || pe.Code != "08006" || !strings.Contains(pe.Message, "nothing more was released"):
				t.Fatalf("the read failed with %v, want the gateway's 08006", err)
			}
		})
	}
}
