package translog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// MaxEntrySize is the largest entry tlog-tiles can hold.
const MaxEntrySize = 1<<16 - 1

// Options configures [Open].
type Options struct {
	// Dir holds the log: checkpoint and tile/ (public, serve them with
	// Handler) and .state/ (Tessera's private bookkeeping).
	Dir string
	// SignerKey is the note signer key from GenerateKey. Its name is the
	// log's origin.
	SignerKey string
	// Logger receives the log's own events; nil discards them. (Tessera
	// itself logs through klog.)
	Logger *slog.Logger

	// CheckpointInterval is how often a new checkpoint is signed when the
	// tree has grown: the delay before an appended entry is publicly
	// verifiable. Default 1s; Tessera's minimum is 100ms.
	CheckpointInterval time.Duration
	// BatchMaxSize and BatchMaxAge bound Tessera's batches: journaled
	// entries are integrated into the tree in batches of fewer than
	// BatchMaxSize, one every BatchMaxAge at most. An Append waits for the
	// journal, never for a batch, so these trade only the delay before
	// entries are in the public tree (and the checkpoint after it) against
	// Tessera's cost per batch — several file writes and directory
	// fsyncs. Defaults 4096 and 50ms. The journal hands Tessera one
	// batch at a time, each flushed by Tessera's timer, so BatchMaxAge also
	// caps integration at BatchMaxSize per BatchMaxAge (about 80,000
	// entries/s at the defaults); beyond that the journal's lag grows to
	// its bound and Appends wait. (Measured with 64 appenders: 50,000–
	// 66,000 durable appends/s at 50ms, 28,000–35,000 at 100ms,
	// 33,000–36,000 at 200ms. At 50ms Tessera's file creations and
	// directory fsyncs are about 10% of the gateway's CPU under pgbench
	// load.)
	BatchMaxSize uint
	BatchMaxAge  time.Duration

	// Witnesses cosign checkpoints (C2SP tlog-witness); a checkpoint is
	// published only once MinCosignatures of them have cosigned it. No
	// witnesses: checkpoints are published with the log's signature alone.
	Witnesses       []Witness
	MinCosignatures int

	// Sidecars stores the private sidecars of entries appended with
	// AppendWith, after they are durable in the journal (see journal.go).
	// Open applies any left in the journal before it returns. Nil: the log
	// refuses AppendWith, and keeps sidecars found in the journal for an
	// Open that has a store.
	Sidecars SidecarFunc
}

// Witness is one witness the log asks to cosign its checkpoints.
type Witness struct {
	URL string // the witness's root URL; its add-checkpoint endpoint is below it
	Key string // its note verifier key
}

const (
	defaultCheckpointInterval = time.Second
	defaultBatchMaxSize       = 4096
	defaultBatchMaxAge        = 50 * time.Millisecond
	closeTimeout              = 30 * time.Second
)

// Log is an open transparency log. Its methods are safe for concurrent use.
type Log struct {
	origin, vkey string
	log          *slog.Logger
	journal      *journal
	shutdown     func(context.Context) error
	stop         context.CancelFunc
	stopped      <-chan struct{}

	mu       sync.RWMutex // guards closed against Appends in flight
	closed   bool
	inflight sync.WaitGroup
}

// Open opens the log in opts.Dir, creating it if needed, and starts the
// background work that integrates entries and publishes checkpoints until
// Close. Reopening a directory continues the same log; Open refuses a
// directory whose checkpoint is not signed by opts.SignerKey. ctx bounds
// only the opening.
func Open(ctx context.Context, opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("couldn't open log: no directory")
	}
	signer, err := note.NewSigner(opts.SignerKey)
	if err != nil {
		return nil, fmt.Errorf("couldn't open log: bad signer key: %w", err)
	}
	vkey, err := verifierKey(opts.SignerKey)
	if err != nil {
		return nil, fmt.Errorf("couldn't open log: %w", err)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = defaultCheckpointInterval
	}
	if opts.BatchMaxSize == 0 {
		opts.BatchMaxSize = defaultBatchMaxSize
	}
	if opts.BatchMaxAge == 0 {
		opts.BatchMaxAge = defaultBatchMaxAge
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("couldn't create log directory: %w", err)
	}
	if err := checkExisting(ctx, opts.Dir, vkey, signer.Name()); err != nil {
		return nil, fmt.Errorf("couldn't open log in %s: %w", opts.Dir, err)
	}

	// Tessera panics rather than return an error when it cannot create its
	// files (v1.0.4 storage/posix/files.go, appender.initialise): find out
	// first, and say so.
	if err := checkWritable(opts.Dir); err != nil {
		return nil, fmt.Errorf("couldn't open log in %s: %w", opts.Dir, err)
	}

	// The background work outlives ctx: it ends with Close.
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	driver, err := posix.New(bg, posix.Config{Path: opts.Dir})
	if err != nil {
		stop()
		return nil, fmt.Errorf("couldn't open log storage: %w", err)
	}
	// No antispam: deduplicating would hand a repeated entry an earlier
	// entry's index, and every decision must get its own entry.
	aopts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithCheckpointInterval(opts.CheckpointInterval).
		WithBatching(opts.BatchMaxSize, opts.BatchMaxAge).
		WithShutdownTimeout(closeTimeout)
	if len(opts.Witnesses) > 0 {
		group, err := witnessGroup(opts.Witnesses, opts.MinCosignatures)
		if err != nil {
			stop()
			return nil, err
		}
		aopts = aopts.WithWitnesses(group, nil)
	}
	appender, shutdown, reader, err := tessera.NewAppender(bg, driver, aopts)
	if err != nil {
		stop()
		return nil, fmt.Errorf("couldn't open log appender: %w", err)
	}
	size, err := reader.IntegratedSize(ctx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("couldn't read the log's size: %w", err)
	}
	if next, err := reader.NextIndex(ctx); err != nil || next != size {
		stop()
		return nil, fmt.Errorf("couldn't open log: %d entries sequenced but %d integrated (%v)", next, size, err)
	}
	j, err := openJournal(ctx, opts.Dir, size, appender.Add, int(opts.BatchMaxSize)-1, opts.Sidecars, lg)
	if err != nil {
		stop()
		return nil, err
	}
	lg.Info("transparency log open", "dir", opts.Dir, "origin", signer.Name())
	return &Log{
		origin:   signer.Name(),
		vkey:     vkey,
		log:      lg,
		journal:  j,
		shutdown: shutdown,
		stop:     stop,
		stopped:  bg.Done(),
	}, nil
}

// checkExisting fails unless dir is new or its checkpoint verifies under
// vkey: appending to someone else's log, or under a changed origin, would
// publish checkpoints no verifier accepts.
func checkExisting(ctx context.Context, dir, vkey, origin string) error {
	raw, err := os.ReadFile(filepath.Join(dir, layout.CheckpointPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new log, or one Tessera will publish a first checkpoint for
	}
	if err != nil {
		return err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	if _, _, _, err := client.FetchCheckpoint(ctx, func(context.Context) ([]byte, error) { return raw, nil }, v, origin); err != nil {
		return fmt.Errorf("existing checkpoint does not verify with this key: %w", err)
	}
	return nil
}

// Origin returns the log's origin, the name in its key and checkpoints.
func (l *Log) Origin() string { return l.origin }

// VerifierKey returns the public note verifier key for the log's
// checkpoints, as given to Verify.
func (l *Log) VerifierKey() string { return l.vkey }

var errClosed = errors.New("couldn't append to log: log is closed")

// Append durably sequences data as the next entry and returns its index.
//
// Contract: once Append returns nil, the entry is durable (it survives
// kill -9 and power loss) and its index is final; on error nothing was
// promised (the entry may or may not appear later). Concurrent Appends share
// one journal write and fdatasync (see journal.go); Tessera integrates
// them behind it, and a checkpoint covering them is published within
// CheckpointInterval once integrated.
func (l *Log) Append(ctx context.Context, data []byte) (uint64, error) {
	return l.AppendWith(ctx, data, nil)
}

// AppendWith is Append with a sidecar: private bytes durable with the entry
// (in the same journal fdatasync) and handed to Options.Sidecars after, but
// never published. An empty side is no sidecar.
func (l *Log) AppendWith(ctx context.Context, data, side []byte) (uint64, error) {
	if len(data) > MaxEntrySize {
		return 0, fmt.Errorf("couldn't append to log: entry is %d bytes, more than %d", len(data), MaxEntrySize)
	}
	if len(data) == 0 {
		return 0, errors.New("couldn't append to log: empty entry")
	}
	if len(side) > MaxSidecarSize {
		return 0, fmt.Errorf("couldn't append to log: sidecar is %d bytes, more than %d", len(side), MaxSidecarSize)
	}
	if len(side) > 0 && l.journal.apply == nil {
		return 0, errors.New("couldn't append to log: no sidecar store is configured")
	}
	if len(side) == 0 {
		side = nil
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, errClosed
	}
	l.inflight.Add(1)
	defer l.inflight.Done()
	l.mu.RUnlock()
	// Durable once the journal's group fdatasync covers it; its index is
	// the journal's, which the integrator makes Tessera's (see journal.go).
	return l.journal.append(ctx, data, side)
}

// Err reports why the log no longer accepts entries (it failed closed: a
// journal write or an integration failed), or nil while it does. Once
// failed, only a restart on the same directory recovers it, which Open
// does safely.
func (l *Log) Err() error {
	j := l.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.failed
}

// Close stops accepting entries, waits for the Appends in flight, waits for
// a checkpoint covering every entry this Log appended, and stops the
// background work. Close is idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	defer l.stop()

	l.inflight.Wait()
	jerr := l.journal.close()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if jerr != nil {
		l.shutdown(ctx)
		return fmt.Errorf("couldn't integrate every journaled entry: %w", jerr)
	}
	if err := l.shutdown(ctx); err != nil {
		return fmt.Errorf("couldn't publish the final checkpoint: %w", err)
	}
	l.log.Info("transparency log closed", "origin", l.origin)
	return nil
}

// witnessGroup is Tessera's policy: min of the witnesses must cosign.
func witnessGroup(ws []Witness, min int) (tessera.WitnessGroup, error) {
	if min < 1 || min > len(ws) {
		return tessera.WitnessGroup{}, fmt.Errorf("couldn't configure witnesses: %d cosignatures required of %d witnesses", min, len(ws))
	}
	var group tessera.WitnessGroup
	var witnesses []tessera.Witness
	for _, w := range ws {
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return tessera.WitnessGroup{}, fmt.Errorf("couldn't configure witness %q: not an http(s) URL", w.URL)
		}
		wit, err := tessera.NewWitness(w.Key, u)
		if err != nil {
			return tessera.WitnessGroup{}, fmt.Errorf("couldn't configure witness %s: %w", w.URL, err)
		}
		witnesses = append(witnesses, wit)
	}
	// NewWitnessGroup's variadic parameter has an unexported element type,
	// so a slice cannot be spread into it; the group's exported Components
	// take the rest.
	group = tessera.NewWitnessGroup(min, witnesses[0])
	for _, w := range witnesses[1:] {
		group.Components = append(group.Components, w)
	}
	return group, nil
}

// checkWritable fails unless dir, and Tessera's state directory in it if
// it exists, accept a new file.
func checkWritable(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, ".state")} {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			continue
		}
		f, err := os.CreateTemp(d, ".writable-*")
		if err != nil {
			return fmt.Errorf("the log directory is not writable: %w", err)
		}
		f.Close()
		os.Remove(f.Name())
	}
	return nil
}
