package translog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
// A record may carry a sidecar: private bytes that belong with the entry
// but are never published (the gateway's sealed detail and the subjects a
// unit received). The sidecar is durable in the same fdatasync as its
// entry, so "the entry exists" and "its sidecar exists" cannot come apart
// in a crash. After it is durable, a single applier goroutine hands
// sidecars, in index order and in batches, to Options.Sidecars, retrying
// until it succeeds; the journal keeps every record whose sidecar has not
// been applied.
//
// Crash safety: after kill -9, Open reads Tessera's integrated size S and
// the journal; records with index ≥ S were promised but not integrated, and
// are integrated again, in order, before any new Append. Every sidecar still
// in the journal is applied again before Open returns (so applying must be
// idempotent). A torn record at the journal's tail (a crash mid-write,
// never acknowledged) is cut off. Once every record is integrated and every
// sidecar applied, the journal is truncated.
//
// Record format, little-endian:
//
//	index   uint64   the entry's index in the log
//	length  uint32   of data, at most MaxEntrySize
//	sidelen uint32   of side, at most MaxSidecarSize
//	crc     uint32   CRC-32C (Castagnoli) of index, length, sidelen, data and side
//	data    [length]byte
//	side    [sidelen]byte
const (
	journalFile   = "journal.2"
	journalV1File = "journal" // records without sidecars, before custodes had them
	headerSize    = 20
)

// MaxSidecarSize bounds one entry's sidecar: room for the sealed detail of
// a statement as long as the gateway accepts (1 MiB), encoded.
const MaxSidecarSize = 8 << 20

// truncateAt is the journal size beyond which a fully integrated and applied
// journal is started afresh; Open re-applies every sidecar left in it.
var truncateAt int64 = 8 << 20 // a variable for tests

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
	side  []byte
}

// Sidecar is the private part of one entry, handed to Options.Sidecars.
type Sidecar struct {
	Index uint64 // the entry's index in the log
	Data  []byte
}

// SidecarFunc stores sidecars, in index order. Contract: once it returns nil
// the sidecars are durable where it keeps them; it may be called again with
// sidecars it has already stored (after a crash) and must then change
// nothing. On error the same batch is retried.
type SidecarFunc func(ctx context.Context, sides []Sidecar) error

type waiter struct {
	index uint64
	done  chan error
}

// journal owns the journal file and the integration of its records.
type journal struct {
	f     *os.File
	add   tessera.AddFn
	chunk int // records per Tessera batch, below its size trigger
	apply SidecarFunc
	log   *slog.Logger

	mu         sync.Mutex
	cond       *sync.Cond // signals: durable records, integration and store progress, failure, closing
	flushCond  *sync.Cond // wakes the flusher alone: new records to flush (and failure, closing)
	next       uint64     // index of the next Append
	buf        []byte     // encoded records not yet written
	waiters    []waiter   // Appends waiting for buf's fdatasync
	queue      []jrecord  // durable records not yet integrated, in order
	sides      []jrecord  // durable records whose sidecar is not yet applied, in order
	integrated uint64     // every index below is in Tessera
	size       int64      // bytes of records in the journal file
	// growMu guards alloc and end, and is held to write beyond alloc or to
	// extend the file: the extender zero-fills beyond end while the
	// flusher writes below alloc, so the two never overlap.
	growMu       sync.Mutex
	alloc        int64         // the file's bytes below this are allocated and written
	end          int64         // the file's length: ≥ alloc
	hi           int64         // the end of the last records written
	grow         chan struct{} // wakes the extender
	done         chan struct{} // closed at close: stops the extender
	extenderDone chan struct{}
	writing      bool  // the flusher is writing at size, without the lock
	failed       error // set once: the log no longer accepts entries
	closing      bool
	flushed      bool         // the flusher has exited: nothing more will be queued
	syncs        atomic.Int64 // fdatasyncs done, for tests
	// syncTime and groupSize observe each group's write and fdatasync:
	// every Append waits for one, so they are the floor of its latency.
	syncTime, groupSize prometheus.Histogram

	flusherDone, integratorDone, applierDone chan struct{}
}

// openJournal reads dir's journal, keeps the records Tessera has not
// integrated (size is Tessera's integrated size) for integration, and
// starts the flusher and integrator.
func openJournal(ctx context.Context, dir string, size uint64, add tessera.AddFn, chunk int, apply SidecarFunc, lg *slog.Logger) (*journal, error) {
	jdir := filepath.Join(dir, ".journal")
	if err := os.MkdirAll(jdir, 0o700); err != nil {
		return nil, fmt.Errorf("couldn't create journal directory: %w", err)
	}
	if err := retireV1(jdir, size); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(jdir, journalFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't open journal: %w", err)
	}
	j := &journal{f: f, add: add, chunk: max(1, chunk), apply: apply, log: lg, next: size, integrated: size,
		flusherDone: make(chan struct{}), integratorDone: make(chan struct{}), applierDone: make(chan struct{})}
	j.cond = sync.NewCond(&j.mu)
	j.flushCond = sync.NewCond(&j.mu)
	j.syncTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "custodes_log_journal_sync_seconds",
		Help:    "Time to write and fdatasync one group of journaled entries.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14),
	})
	j.groupSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "custodes_log_journal_group_entries",
		Help:    "Entries made durable by one journal fdatasync.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12),
	})
	good, err := j.replay(size)
	if err != nil {
		f.Close()
		return nil, err
	}
	// Cut a torn tail: it was never acknowledged. (And the zeros
	// preallocated after it: they are allocated afresh, so that no
	// remnant of an unacknowledged record lies beyond new ones.)
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't truncate journal: %w", err)
	}
	j.size, j.alloc, j.end, j.hi = good, good, good, good
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't sync journal: %w", err)
	}
	if d, err := os.Open(jdir); err == nil {
		d.Sync()
		d.Close()
	}
	j.grow, j.done, j.extenderDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go j.extender()
	j.grow <- struct{}{}
	go j.flusher()
	go j.integrator()
	go j.applier()
	// Sidecars left in the journal may not have been applied before the
	// crash: callers (the gateway's coverage, the overseer's details) rely
	// on them once Open returns.
	if apply == nil {
		return j, nil
	}
	if err := j.waitApplied(ctx); err != nil {
		j.close()
		return nil, err
	}
	return j, nil
}

// retireV1 removes the journal of earlier versions, whose records carry no
// sidecar, once Tessera holds all of them; otherwise it refuses, rather than
// lose entries that were promised.
func retireV1(jdir string, size uint64) error {
	path := filepath.Join(jdir, journalV1File)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("couldn't read old journal: %w", err)
	}
	for len(b) >= 16 {
		idx := binary.LittleEndian.Uint64(b[0:8])
		n := int(binary.LittleEndian.Uint32(b[8:12]))
		if n > MaxEntrySize || len(b) < 16+n {
			break // a torn tail: never acknowledged
		}
		h := crc32.New(crcTable)
		h.Write(b[:12])
		h.Write(b[16 : 16+n])
		if h.Sum32() != binary.LittleEndian.Uint32(b[12:16]) {
			break
		}
		if idx >= size {
			return fmt.Errorf("couldn't open journal: %s holds entry %d, which the log has not integrated; run the custodes version that wrote it once to integrate it", path, idx)
		}
		b = b[16+n:]
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("couldn't remove old journal: %w", err)
	}
	return nil
}

// waitApplied waits until every sidecar durable so far is applied.
func (j *journal) waitApplied(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		j.mu.Lock()
		j.cond.Broadcast()
		j.mu.Unlock()
	})
	defer stop()
	j.mu.Lock()
	defer j.mu.Unlock()
	for len(j.sides) > 0 && j.failed == nil {
		if ctx.Err() != nil {
			return fmt.Errorf("couldn't apply the journal's sidecars: %w", context.Cause(ctx))
		}
		j.cond.Wait()
	}
	return j.failed
}

// replay reads the journal and queues the records at or after size.
func (j *journal) replay(size uint64) (good int64, err error) {
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	var hdr [headerSize]byte
	expect := size
	for {
		if _, err := io.ReadFull(j.f, hdr[:]); err != nil {
			return good, nil // EOF or a torn header
		}
		idx := binary.LittleEndian.Uint64(hdr[0:8])
		n := binary.LittleEndian.Uint32(hdr[8:12])
		sn := binary.LittleEndian.Uint32(hdr[12:16])
		crc := binary.LittleEndian.Uint32(hdr[16:20])
		if n == 0 || n > MaxEntrySize || sn > MaxSidecarSize {
			return good, nil // the preallocated zeros, or damage
		}
		body := make([]byte, n+sn)
		if _, err := io.ReadFull(j.f, body); err != nil {
			return good, nil
		}
		h := crc32.New(crcTable)
		h.Write(hdr[:16])
		h.Write(body)
		if h.Sum32() != crc {
			return good, nil // torn or damaged tail
		}
		good += int64(headerSize) + int64(n) + int64(sn)
		r := jrecord{idx, body[:n:n], nil}
		if sn > 0 {
			r.side = body[n:]
			// Applied or not before the crash: apply again (idempotent).
			j.sides = append(j.sides, r)
		}
		if idx < size {
			continue // integrated before the crash
		}
		if idx != expect {
			return 0, fmt.Errorf("couldn't replay journal: record %d follows %d; the journal and the log disagree", idx, expect-1)
		}
		j.queue = append(j.queue, r)
		expect++
		j.next = expect
	}
}

// maxLagWait bounds how long an Append waits for room in the journal.
const maxLagWait = 5 * time.Second

// lagging says whether the journal holds as much as it may that is not yet
// integrated or applied. j.mu is held.
func (j *journal) lagging() bool {
	return j.failed == nil && !j.closing && len(j.queue)+len(j.sides)+len(j.waiters) >= maxJournalLag
}

// append journals data and returns its index once it is durable.
func (j *journal) append(ctx context.Context, data, side []byte) (uint64, error) {
	j.mu.Lock()
	if j.lagging() {
		// Back-pressure: Tessera or the sidecar store is behind. Wait a
		// bounded time, then refuse: the statement is denied, not hung.
		wctx, cancel := context.WithTimeout(ctx, maxLagWait)
		stop := context.AfterFunc(wctx, func() {
			j.mu.Lock()
			j.cond.Broadcast()
			j.mu.Unlock()
		})
		for j.lagging() && wctx.Err() == nil {
			j.cond.Wait()
		}
		stop()
		cancel()
		if j.lagging() {
			n := len(j.queue) + len(j.sides)
			j.mu.Unlock()
			return 0, fmt.Errorf("couldn't append to log: %d journaled entries are not yet integrated or stored behind it", n)
		}
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
	j.buf = appendRecord(j.buf, idx, data, side)
	w := waiter{idx, make(chan error, 1)}
	j.waiters = append(j.waiters, w)
	// Only the flusher cares: waking the integrator and the store too, on
	// every Append, would cost two futex wake-ups and context switches
	// each.
	j.flushCond.Signal()
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
func appendRecord(b []byte, idx uint64, data, side []byte) []byte {
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint64(hdr[0:8], idx)
	binary.LittleEndian.PutUint32(hdr[8:12], uint32(len(data)))
	binary.LittleEndian.PutUint32(hdr[12:16], uint32(len(side)))
	h := crc32.New(crcTable)
	h.Write(hdr[:16])
	h.Write(data)
	h.Write(side)
	binary.LittleEndian.PutUint32(hdr[16:20], h.Sum32())
	return append(append(append(b, hdr[:]...), data...), side...)
}

func encodeRecord(idx uint64, data, side []byte) []byte { return appendRecord(nil, idx, data, side) }

// flusher writes and fdatasyncs journaled records in groups.
func (j *journal) flusher() {
	defer close(j.flusherDone)
	for {
		j.mu.Lock()
		for len(j.waiters) == 0 && !j.closing && j.failed == nil {
			j.flushCond.Wait()
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
			sn := int(binary.LittleEndian.Uint32(buf[off+12:]))
			r := jrecord{idx, buf[off+headerSize : off+headerSize+n : off+headerSize+n], nil}
			if sn > 0 {
				r.side = buf[off+headerSize+n : off+headerSize+n+sn : off+headerSize+n+sn]
			}
			recs = append(recs, r)
			off += headerSize + n + sn
		}
		failed := j.failed
		at := j.size
		j.writing = true
		j.mu.Unlock()

		err := failed
		if err == nil {
			start := time.Now()
			err = j.write(buf, at)
			j.syncTime.Observe(time.Since(start).Seconds())
			j.groupSize.Observe(float64(len(waiters)))
			j.syncs.Add(1)
			if err != nil {
				err = fmt.Errorf("couldn't append to log: journal write failed: %w", err)
			}
		}

		j.mu.Lock()
		j.writing = false
		if err != nil && j.failed == nil {
			// A failed write leaves the file's tail unknown: fail closed
			// rather than risk handing out an index twice.
			j.failed = err
		}
		if err == nil {
			j.size += int64(len(buf))
			j.queue = append(j.queue, recs...)
			for _, r := range recs {
				if r.side != nil {
					j.sides = append(j.sides, r)
				}
			}
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
			j.flushCond.Broadcast()
			j.mu.Unlock()
			return
		}
		j.integrated = chunk[len(chunk)-1].index + 1
		j.queue = j.queue[len(chunk):]
		if len(j.queue) == 0 {
			j.queue = nil
		}
		j.maybeTruncate()
		j.cond.Broadcast()
		j.mu.Unlock()
	}
}

// maybeTruncate starts the journal afresh once it has grown and everything
// in it is in Tessera and applied, while no write is in flight (the flusher
// takes the lock before writing). j.mu is held.
func (j *journal) maybeTruncate() {
	if j.size <= truncateAt || j.writing || len(j.queue) > 0 || len(j.sides) > 0 || len(j.waiters) > 0 || len(j.buf) > 0 {
		return
	}
	j.growMu.Lock()
	defer j.growMu.Unlock()
	if err := j.f.Truncate(0); err == nil {
		j.f.Sync()
		j.size, j.alloc, j.end, j.hi = 0, 0, 0, 0
		j.kickExtender()
	}
}

// preallocChunk is how far the journal file is extended at a time; the
// extender extends it once less than half a chunk is left.
const preallocChunk = 4 << 20

// write writes buf at offset at and makes it durable.
//
// The file is extended ahead of the records by writing zeros (and fsyncing
// the new size once), so that a group's fdatasync overwrites blocks that
// are already allocated and written: it then flushes data only, and does
// not wait for a filesystem journal commit of the file's size — which, on
// ext4 shared with Tessera's file creations and renames, costs
// milliseconds. (PostgreSQL zero-fills its WAL segments for the same
// reason.) The extender does it in the background, so no statement waits
// for a chunk of zeros; if the records catch up with it, they are written
// past the allocated end, which is correct, only slower. Zeros never parse
// as a record: replay stops at them.
// syncData makes a journal write durable: fdatasync, a variable so that a
// test can make it fail as a failing disk does (EIO), which nothing on a
// test machine reproduces reliably.
var syncData = fdatasync

func (j *journal) write(buf []byte, at int64) error {
	end := at + int64(len(buf))
	j.growMu.Lock()
	if end > j.alloc {
		// Past the allocated end: hold the extender off while writing.
		_, err := j.f.WriteAt(buf, at)
		j.end, j.hi = max(j.end, end), end
		j.kickExtender()
		j.growMu.Unlock()
		if err != nil {
			return err
		}
		return syncData(j.f)
	}
	j.hi = end
	if j.alloc-end < preallocChunk/2 {
		j.kickExtender()
	}
	j.growMu.Unlock()
	if _, err := j.f.WriteAt(buf, at); err != nil {
		return err
	}
	return syncData(j.f)
}

// kickExtender wakes the extender without waiting for it.
func (j *journal) kickExtender() {
	select {
	case j.grow <- struct{}{}:
	default:
	}
}

// extender zero-fills the journal file a chunk beyond its end whenever
// asked, until close. A failure is left for the flusher's own writes to
// meet: the extension is an optimisation.
func (j *journal) extender() {
	defer close(j.extenderDone)
	zeros := make([]byte, preallocChunk)
	for {
		select {
		case <-j.done:
			return
		case <-j.grow:
		}
		j.growMu.Lock()
		if j.alloc-j.hi >= preallocChunk/2 && j.alloc == j.end {
			j.growMu.Unlock()
			continue
		}
		from := j.end
		_, err := j.f.WriteAt(zeros, from)
		if err == nil {
			err = j.f.Sync()
		}
		if err == nil {
			j.alloc, j.end = from+preallocChunk, from+preallocChunk
		}
		j.growMu.Unlock()
	}
}

// maxApplyBatch bounds the sidecars of one SidecarFunc call, and applyPace
// is the pause after a smaller one.
const (
	maxApplyBatch = 512
	applyPace     = 20 * time.Millisecond
)

// applier hands durable sidecars to j.apply in order, retrying each batch
// until it is stored. It gives up only when closing and the batch has kept
// failing for closeTimeout: the sidecars stay in the journal and the next
// Open applies them.
func (j *journal) applier() {
	defer close(j.applierDone)
	var failingSince time.Time
	backoff := 10 * time.Millisecond
	for {
		j.mu.Lock()
		for (len(j.sides) == 0 || j.apply == nil) && !j.flushed && j.failed == nil {
			j.cond.Wait()
		}
		if len(j.sides) == 0 || j.apply == nil {
			// Without a store the sidecars stay in the journal (it is not
			// truncated) for an Open that has one.
			j.mu.Unlock()
			return
		}
		batch := j.sides[:min(len(j.sides), maxApplyBatch)]
		closing := j.closing
		j.mu.Unlock()

		sides := make([]Sidecar, len(batch))
		for i, r := range batch {
			sides[i] = Sidecar{Index: r.index, Data: r.side}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := j.apply(ctx, sides)
		cancel()
		if err != nil {
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			j.log.Error("couldn't store entries' sidecars; retrying", "first", sides[0].Index, "count", len(sides), "err", err)
			if closing && time.Since(failingSince) > closeTimeout {
				j.log.Error("giving up on sidecars at close; the next open applies them", "first", sides[0].Index)
				j.mu.Lock()
				j.sides = nil
				j.cond.Broadcast()
				j.mu.Unlock()
				return
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		failingSince, backoff = time.Time{}, 10*time.Millisecond
		j.mu.Lock()
		j.sides = j.sides[len(batch):]
		if len(j.sides) == 0 {
			j.sides = nil
		}
		j.maybeTruncate()
		j.cond.Broadcast()
		pace := len(batch) < maxApplyBatch && !j.closing
		j.mu.Unlock()
		if pace {
			// Each store is a commit, and so a WAL flush on the disk the
			// journal's own fdatasyncs share: let a batch gather rather
			// than commit every few entries.
			time.Sleep(applyPace)
		}
	}
}

// close stops new Appends, waits until every journaled record is durable
// and integrated, and closes the file.
func (j *journal) close() error {
	j.mu.Lock()
	j.closing = true
	j.cond.Broadcast()
	j.flushCond.Broadcast()
	j.mu.Unlock()
	<-j.flusherDone
	j.mu.Lock()
	j.cond.Broadcast()
	j.mu.Unlock()
	<-j.integratorDone
	j.mu.Lock()
	j.cond.Broadcast()
	j.mu.Unlock()
	<-j.applierDone
	close(j.done)
	<-j.extenderDone
	j.mu.Lock()
	err := j.failed
	j.mu.Unlock()
	if err == nil {
		// A clean close leaves no preallocated zeros behind.
		if terr := j.f.Truncate(j.size); terr == nil {
			j.f.Sync()
		}
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}
