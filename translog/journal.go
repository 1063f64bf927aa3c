package translog

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/transparency-dev/tessera"
)

// The journal is custodes' group commit in front of Tessera.
//
// Tessera's POSIX storage makes a batch durable by writing and fsyncing
// several files (entry bundle, tiles, tree state): milliseconds per batch,
// so a gateway that waited for Tessera before releasing any row would be
// bound by it. Instead, Append writes the entry to an append-only journal
// and returns once the journal is fdatasync'ed — one fdatasync shared by
// every Append waiting at that moment. The entry's index is assigned by the
// journal, in journal order; a single integrator goroutine then adds
// journal records to Tessera in the same order, in chunks, and checks that
// Tessera assigned each the journal's index. If it ever does not, the log
// fails closed: every later Append errors, so no row is released against
// an index that is not the published one.
//
// Crash safety: after kill -9, Open reads Tessera's integrated size S and
// the journal; records with index ≥ S were promised but not integrated, and
// are integrated again, in order, before any new Append. A torn record at
// the journal's tail (a crash mid-write, never acknowledged) is cut off.
// Once every record is integrated the journal is truncated.
//
// Record format, little-endian:
//
//	index  uint64   the entry's index in the log
//	length uint32   of data, at most MaxEntrySize
//	crc    uint32   CRC-32C of index, length and data
//	data   [length]byte
const journalFile = "journal"

// maxJournalLag bounds the entries journaled but not yet in Tessera; Append
// waits beyond it (back-pressure instead of unbounded memory).
const maxJournalLag = 20000

// The integrator adds at most chunk records to Tessera before waiting for
// all their indices, and chunk is below Tessera's batch size. So no chunk
// ever fills a batch, only Tessera's timer flushes it, and each chunk is
// one batch: Tessera's queue sends batches to its worker after unlocking,
// so two batches in flight at once (one flushed by size, one by the timer)
// could be sequenced out of order — seen under load as an index 1024 (one
// batch) off. Waiting per chunk keeps at most one batch in flight.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type jrecord struct {
	index uint64
	data  []byte
}

type waiter struct {
	index uint64
	done  chan error
}

// journal owns the journal file and the integration of its records.
type journal struct {
	f     *os.File
	add   tessera.AddFn
	chunk int // records per Tessera batch, below its size trigger

	mu         sync.Mutex
	cond       *sync.Cond // signals: new records to flush, integration progress
	next       uint64     // index of the next Append
	buf        []byte     // encoded records not yet written
	waiters    []waiter   // Appends waiting for buf's fdatasync
	queue      []jrecord  // durable records not yet integrated, in order
	integrated uint64     // every index below is in Tessera
	size       int64      // bytes in the journal file
	failed     error      // set once: the log no longer accepts entries
	closing    bool
	flushed    bool         // the flusher has exited: nothing more will be queued
	syncs      atomic.Int64 // fdatasyncs done, for tests

	flusherDone, integratorDone chan struct{}
}

// openJournal reads dir's journal, keeps the records Tessera has not
// integrated (size is Tessera's integrated size) for integration, and
// starts the flusher and integrator.
func openJournal(dir string, size uint64, add tessera.AddFn, chunk int) (*journal, error) {
	jdir := filepath.Join(dir, ".journal")
	if err := os.MkdirAll(jdir, 0o700); err != nil {
		return nil, fmt.Errorf("couldn't create journal directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(jdir, journalFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't open journal: %w", err)
	}
	j := &journal{f: f, add: add, chunk: max(1, chunk), next: size, integrated: size,
		flusherDone: make(chan struct{}), integratorDone: make(chan struct{})}
	j.cond = sync.NewCond(&j.mu)
	good, err := j.replay(size)
	if err != nil {
		f.Close()
		return nil, err
	}
	// Cut a torn tail: it was never acknowledged.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't truncate journal: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	j.size = good
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't sync journal: %w", err)
	}
	if d, err := os.Open(jdir); err == nil {
		d.Sync()
		d.Close()
	}
	go j.flusher()
	go j.integrator()
	return j, nil
}

// replay reads the journal and queues the records at or after size.
func (j *journal) replay(size uint64) (good int64, err error) {
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	var hdr [16]byte
	expect := size
	for {
		if _, err := io.ReadFull(j.f, hdr[:]); err != nil {
			return good, nil // EOF or a torn header
		}
		idx := binary.LittleEndian.Uint64(hdr[0:8])
		n := binary.LittleEndian.Uint32(hdr[8:12])
		crc := binary.LittleEndian.Uint32(hdr[12:16])
		if n > MaxEntrySize {
			return good, nil
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(j.f, data); err != nil {
			return good, nil
		}
		h := crc32.New(crcTable)
		h.Write(hdr[:12])
		h.Write(data)
		if h.Sum32() != crc {
			return good, nil // torn or damaged tail
		}
		good += int64(16 + n)
		if idx < size {
			continue // integrated before the crash
		}
		if idx != expect {
			return 0, fmt.Errorf("couldn't replay journal: record %d follows %d; the journal and the log disagree", idx, expect-1)
		}
		j.queue = append(j.queue, jrecord{idx, data})
		expect++
		j.next = expect
	}
}

// append journals data and returns its index once it is durable.
func (j *journal) append(ctx context.Context, data []byte) (uint64, error) {
	j.mu.Lock()
	for j.failed == nil && !j.closing && uint64(len(j.queue))+uint64(len(j.waiters)) >= maxJournalLag {
		j.cond.Wait() // back-pressure: Tessera is behind
	}
	if j.failed != nil {
		j.mu.Unlock()
		return 0, j.failed
	}
	if j.closing {
		j.mu.Unlock()
		return 0, errClosed
	}
	idx := j.next
	j.next++
	j.buf = appendRecord(j.buf, idx, data)
	w := waiter{idx, make(chan error, 1)}
	j.waiters = append(j.waiters, w)
	j.cond.Broadcast()
	j.mu.Unlock()

	select {
	case err := <-w.done:
		if err != nil {
			return 0, err
		}
		return idx, nil
	case <-ctx.Done():
		// The record may still become durable and be integrated: an
		// entry no client was promised, which is harmless.
		return 0, fmt.Errorf("couldn't append to log: %w", ctx.Err())
	}
}

// appendRecord encodes one journal record onto b.
func appendRecord(b []byte, idx uint64, data []byte) []byte {
	var hdr [16]byte
	binary.LittleEndian.PutUint64(hdr[0:8], idx)
	binary.LittleEndian.PutUint32(hdr[8:12], uint32(len(data)))
	h := crc32.New(crcTable)
	h.Write(hdr[:12])
	h.Write(data)
	binary.LittleEndian.PutUint32(hdr[12:16], h.Sum32())
	return append(append(b, hdr[:]...), data...)
}

func encodeRecord(idx uint64, data []byte) []byte { return appendRecord(nil, idx, data) }

// flusher writes and fdatasyncs journaled records in groups.
func (j *journal) flusher() {
	defer close(j.flusherDone)
	for {
		j.mu.Lock()
		for len(j.waiters) == 0 && !j.closing && j.failed == nil {
			j.cond.Wait()
		}
		if len(j.waiters) == 0 {
			j.flushed = true
			j.cond.Broadcast()
			j.mu.Unlock()
			return
		}
		buf, waiters := j.buf, j.waiters
		j.buf, j.waiters = nil, nil
		// Records are queued for integration only once durable, but their
		// data is taken now, in index order.
		recs := make([]jrecord, 0, len(waiters))
		off := 0
		for range waiters {
			idx := binary.LittleEndian.Uint64(buf[off:])
			n := int(binary.LittleEndian.Uint32(buf[off+8:]))
			recs = append(recs, jrecord{idx, buf[off+16 : off+16+n]})
			off += 16 + n
		}
		failed := j.failed
		j.mu.Unlock()

		err := failed
		if err == nil {
			if _, err = j.f.Write(buf); err == nil {
				err = fdatasync(j.f)
				j.syncs.Add(1)
			}
			if err != nil {
				err = fmt.Errorf("couldn't append to log: journal write failed: %w", err)
			}
		}

		j.mu.Lock()
		if err != nil && j.failed == nil {
			// A failed write leaves the file's tail unknown: fail closed
			// rather than risk handing out an index twice.
			j.failed = err
		}
		if err == nil {
			j.size += int64(len(buf))
			j.queue = append(j.queue, recs...)
		}
		j.cond.Broadcast()
		j.mu.Unlock()
		for _, w := range waiters {
			w.done <- err
		}
	}
}

// integrator adds durable records to Tessera in order and checks their
// indices.
func (j *journal) integrator() {
	defer close(j.integratorDone)
	for {
		j.mu.Lock()
		for len(j.queue) == 0 && j.failed == nil && !j.flushed {
			j.cond.Wait()
		}
		if len(j.queue) == 0 || j.failed != nil {
			j.mu.Unlock()
			return
		}
		chunk := j.queue[:min(len(j.queue), j.chunk)]
		j.mu.Unlock()

		futures := make([]tessera.IndexFuture, len(chunk))
		for i, r := range chunk {
			futures[i] = j.add(context.Background(), tessera.NewEntry(r.data))
		}
		var err error
		for i, fut := range futures {
			got, ferr := fut()
			switch {
			case ferr != nil:
				err = fmt.Errorf("couldn't integrate entry %d into the log: %w", chunk[i].index, ferr)
			case got.IsDup || got.Index != chunk[i].index:
				err = fmt.Errorf("the log assigned entry %d index %d: journal and log disagree", chunk[i].index, got.Index)
			}
			if err != nil {
				break
			}
		}

		j.mu.Lock()
		if err != nil {
			j.failed = fmt.Errorf("couldn't append to log: %w", err)
			j.cond.Broadcast()
			j.mu.Unlock()
			return
		}
		j.integrated = chunk[len(chunk)-1].index + 1
		j.queue = j.queue[len(chunk):]
		if len(j.queue) == 0 {
			j.queue = nil
			// Everything is in Tessera: start the journal afresh once it
			// has grown, while no write is in flight (the flusher takes
			// the lock before writing).
			if j.size > 64<<20 && len(j.waiters) == 0 && len(j.buf) == 0 {
				if terr := j.f.Truncate(0); terr == nil {
					j.f.Seek(0, io.SeekStart)
					j.f.Sync()
					j.size = 0
				}
			}
		}
		j.cond.Broadcast()
		j.mu.Unlock()
	}
}

// close stops new Appends, waits until every journaled record is durable
// and integrated, and closes the file.
func (j *journal) close() error {
	j.mu.Lock()
	j.closing = true
	j.cond.Broadcast()
	j.mu.Unlock()
	<-j.flusherDone
	j.mu.Lock()
	j.cond.Broadcast()
	j.mu.Unlock()
	<-j.integratorDone
	j.mu.Lock()
	err := j.failed
	j.mu.Unlock()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}
