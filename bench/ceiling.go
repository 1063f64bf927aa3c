package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The ceiling is what the design itself costs on this machine, with none
// of custodes' work: a relay that does only the two things DESIGN.md fixes
// for every statement and that no implementation can skip —
//
//   - the statement runs in the agency database as the gateway's role, so
//     under custodes' row-level security (DESIGN.md, "The database enforces
//     scope"), and
//   - no reply is released before a record of it is durable: each
//     transaction's reply waits for a group-committed write and fdatasync
//     of a record the size of a custodes journal record, on the same disk
//     as the gateway's journal (the promise "no row before its entry is
//     durable").
//
// The record is queued as the batch goes to the backend, so its wait
// overlaps the statement's run: more than custodes can do, whose entry
// records the result (its rows, the subjects the guard counted), but it
// makes the ceiling the most that any design keeping that promise can do.
//
// It parses no SQL, judges nothing, guards no result, encodes no entry,
// seals nothing and runs no Tessera, so custodes can only be slower; its
// rate against PgBouncer's is the highest ratio any implementation of the
// design can reach here. It is a measuring instrument, not a component:
// it frames messages by hand (a type byte, then a length that counts
// itself: PostgreSQL's documentation, "Message Formats") rather than with
// pgproto3, because decoding each message into a struct is work the
// ceiling must leave out.
//
// It serves pgbench's flows only: start-up and authentication relayed as
// they are, then batches that end in Sync or Query, each answered up to
// ReadyForQuery. Anything else (Flush, COPY, SSL) ends the connection.
type ceiling struct {
	addr    string // where it listens
	backend string // host:port of the agency database
	ln      net.Listener
	j       *ceilingJournal
	log     *slog.Logger
	wg      sync.WaitGroup
}

// ceilingRecord is the size of the record each transaction waits for: a
// custodes journal record (the public entry and the sealed private record
// beside it) measured about 2.5 KB on the demo's statements.
const ceilingRecord = 2560

// maxCeilingMessage bounds one relayed message; pgbench's are small.
const maxCeilingMessage = 1 << 20

func startCeiling(backend, journalPath string, log *slog.Logger) (*ceiling, error) {
	j, err := openCeilingJournal(journalPath)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		j.close()
		return nil, fmt.Errorf("couldn't listen for the ceiling relay: %w", err)
	}
	c := &ceiling{addr: ln.Addr().String(), backend: backend, ln: ln, j: j, log: log}
	c.wg.Go(c.serve)
	return c, nil
}

func (c *ceiling) serve() {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.wg.Go(func() {
			defer conn.Close()
			if err := c.relay(conn); err != nil && !errors.Is(err, io.EOF) {
				c.log.Debug("ceiling relay: connection ended", "err", err)
			}
		})
	}
}

// stats are the ceiling journal's fdatasyncs so far and the records they
// made durable.
func (c *ceiling) stats() (syncs, records int64) { return c.j.stats() }

// stop closes the listener and waits for the connections, which end as
// pgbench closes them; then the journal.
func (c *ceiling) stop() {
	c.ln.Close()
	c.wg.Wait()
	c.j.close()
}

func (c *ceiling) relay(client net.Conn) error {
	backend, err := net.DialTimeout("tcp", c.backend, 10*time.Second)
	if err != nil {
		return err
	}
	defer backend.Close()
	cr, br := bufio.NewReader(client), bufio.NewReader(backend)

	// The start-up message has no type byte.
	n, err := readLength(cr)
	if err != nil {
		return err
	}
	start := make([]byte, n)
	binary.BigEndian.PutUint32(start, uint32(n))
	if _, err := io.ReadFull(cr, start[4:]); err != nil {
		return err
	}
	if len(start) >= 8 && binary.BigEndian.Uint32(start[4:]) != 3<<16 {
		return fmt.Errorf("not a protocol 3.0 start-up message (SSL or GSS request?)")
	}
	if _, err := backend.Write(start); err != nil {
		return err
	}
	// Authentication: relay the backend until ReadyForQuery, answering
	// with one client message each time the backend asks for one.
	var out []byte
	for {
		t, m, err := readMessage(br)
		if err != nil {
			return err
		}
		out = append(append(out, t), m...)
		if t == 'Z' {
			break
		}
		if t == 'E' {
			client.Write(out)
			return fmt.Errorf("backend refused the start-up")
		}
		if t == 'R' && len(m) >= 8 {
			switch binary.BigEndian.Uint32(m[4:8]) {
			case 3, 5, 10, 11: // cleartext, MD5, SASL, SASL continue: the client answers
				if _, err := client.Write(out); err != nil {
					return err
				}
				out = out[:0]
				ct, cm, err := readMessage(cr)
				if err != nil {
					return err
				}
				if _, err := backend.Write(append([]byte{ct}, cm...)); err != nil {
					return err
				}
			}
		}
	}
	if _, err := client.Write(out); err != nil {
		return err
	}

	rec := make([]byte, ceilingRecord)
	var in []byte
	for {
		in, out = in[:0], out[:0]
		for {
			t, m, err := readMessage(cr)
			if err != nil {
				return err
			}
			switch t {
			case 'X':
				backend.Write(append([]byte{t}, m...))
				return nil
			case 'H', 'd', 'c', 'f', 'F':
				return fmt.Errorf("message %q is not relayed by the ceiling", t)
			}
			in = append(append(in, t), m...)
			if t == 'S' || t == 'Q' {
				break
			}
		}
		durable := c.j.append(rec)
		if _, err := backend.Write(in); err != nil {
			return err
		}
		for {
			t, m, err := readMessage(br)
			if err != nil {
				return err
			}
			out = append(append(out, t), m...)
			if t == 'Z' {
				break
			}
		}
		if err := <-durable; err != nil {
			return err
		}
		if _, err := client.Write(out); err != nil {
			return err
		}
	}
}

func readLength(r *bufio.Reader) (int, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint32(h[:]))
	if n < 4 || n > maxCeilingMessage {
		return 0, fmt.Errorf("message length %d out of bounds", n)
	}
	return n, nil
}

// readMessage reads one typed message and returns its type and the rest,
// length included, as it goes on the wire.
func readMessage(r *bufio.Reader) (byte, []byte, error) {
	t, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := readLength(r)
	if err != nil {
		return 0, nil, err
	}
	m := make([]byte, n)
	binary.BigEndian.PutUint32(m, uint32(n))
	_, err = io.ReadFull(r, m[4:])
	return t, m, err
}

// ceilingJournal is group commit at its simplest: appenders queue records
// and wait; one flusher writes everything queued, fdatasyncs, and releases
// those waiters. The file is a ring of 64 MiB, preallocated, so that the
// fdatasync has no file size to persist (as custodes' journal extends its
// file ahead of the records).
type ceilingJournal struct {
	f  *os.File
	mu sync.Mutex
	// Guarded by mu.
	cond           *sync.Cond
	buf            []byte
	waiters        []chan error
	closing        bool
	off            int64 // owned by the flusher
	syncs, records atomic.Int64
	done           chan struct{}
}

const ceilingJournalSize = 64 << 20

func openCeilingJournal(path string) (*ceilingJournal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't create the ceiling's journal: %w", err)
	}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, ceilingJournalSize); err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't allocate the ceiling's journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	j := &ceilingJournal{f: f, done: make(chan struct{})}
	j.cond = sync.NewCond(&j.mu)
	go j.flusher()
	return j, nil
}

// append queues rec; the channel receives nil once it is durable.
func (j *ceilingJournal) append(rec []byte) <-chan error {
	ch := make(chan error, 1)
	j.mu.Lock()
	if j.closing {
		j.mu.Unlock()
		ch <- errors.New("ceiling journal closed")
		return ch
	}
	j.buf = append(j.buf, rec...)
	j.waiters = append(j.waiters, ch)
	j.cond.Signal()
	j.mu.Unlock()
	return ch
}

func (j *ceilingJournal) flusher() {
	defer close(j.done)
	var spare []byte
	for {
		j.mu.Lock()
		for len(j.waiters) == 0 && !j.closing {
			j.cond.Wait()
		}
		if len(j.waiters) == 0 {
			j.mu.Unlock()
			return
		}
		buf, waiters := j.buf, j.waiters
		j.buf, j.waiters = spare[:0], nil
		j.mu.Unlock()

		if j.off+int64(len(buf)) > ceilingJournalSize {
			j.off = 0
		}
		_, err := j.f.WriteAt(buf, j.off)
		if err == nil {
			err = unix.Fdatasync(int(j.f.Fd()))
		}
		j.off += int64(len(buf))
		j.syncs.Add(1)
		j.records.Add(int64(len(waiters)))
		for _, w := range waiters {
			w <- err
		}
		spare = buf
	}
}

// stats are the fdatasyncs so far and the records they made durable.
func (j *ceilingJournal) stats() (syncs, records int64) {
	return j.syncs.Load(), j.records.Load()
}

func (j *ceilingJournal) close() {
	j.mu.Lock()
	j.closing = true
	j.cond.Signal()
	j.mu.Unlock()
	<-j.done
	j.f.Close()
	os.Remove(j.f.Name())
}
