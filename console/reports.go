package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	tlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/report"
	"github.com/custodes/custodes/translog"
)

// reports computes transparency reports from the log directory and keeps
// the latest one of each recent period: a page load between two
// checkpoints costs a map lookup.
//
// Computing verifies the whole log, seconds of CPU for a large one, so one
// computation runs at a time and the others wait for it (usually to find
// their answer cached). It runs detached from the request that started
// it, so a reader who gives up does not waste it for the next.
type reports struct {
	dir, vkey string

	computing sync.Mutex // one computation at a time
	mu        sync.Mutex // guards cache and used
	cache     map[period]*computed
	used      map[period]time.Time
}

// maxPeriods bounds the cache: the periods anyone may ask for are many,
// the ones asked for often are few.
const maxPeriods = 16

// computeTimeout bounds one computation.
const computeTimeout = 5 * time.Minute

type period struct{ from, to time.Time }

// computed is one report with what the public page shows beside it.
type computed struct {
	r          *report.Report
	json       []byte
	checkpoint checkpointInfo
	series     *series
}

// checkpointInfo describes the signed checkpoint a report was computed
// from.
type checkpointInfo struct {
	Origin  string
	Size    uint64
	Root    string // hex, as the report names it
	RootB64 string // as the checkpoint spells it
	Time    time.Time
	Raw     string
	// Cosignatures are the signatures other than the log's own: witnesses'.
	// The console does not know the witnesses' keys, so it names them;
	// `custodes verify` checks them.
	Cosignatures []cosignature
}

type cosignature struct {
	Name string
	Hash string // the key hash, hex
}

func newReports(dir, vkey string) *reports {
	return &reports{dir: dir, vkey: vkey, cache: map[period]*computed{}, used: map[period]time.Time{}}
}

// get returns the report of p at the log's current checkpoint.
func (rs *reports) get(ctx context.Context, p period) (*computed, error) {
	if c, _, _, err := rs.cached(p); c != nil || err != nil {
		return c, err
	}
	rs.computing.Lock()
	defer rs.computing.Unlock()
	// Another request may have computed it while this one waited.
	c, raw, mtime, err := rs.cached(p)
	if c != nil || err != nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), computeTimeout)
	defer cancel()
	if c, err = rs.compute(ctx, p, raw, mtime); err != nil {
		return nil, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.cache) >= maxPeriods && rs.cache[p] == nil {
		var lru period
		first := true
		for q, t := range rs.used {
			if first || t.Before(rs.used[lru]) {
				lru, first = q, false
			}
		}
		delete(rs.cache, lru)
		delete(rs.used, lru)
	}
	rs.cache[p], rs.used[p] = c, time.Now()
	return c, nil
}

// cached returns the cached report of p if it is of the current
// checkpoint, and otherwise the current checkpoint.
func (rs *reports) cached(p period) (*computed, []byte, time.Time, error) {
	raw, mtime, err := rs.checkpoint()
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if c := rs.cache[p]; c != nil && c.checkpoint.Raw == string(raw) {
		rs.used[p] = time.Now()
		return c, raw, mtime, nil
	}
	return nil, raw, mtime, nil
}

// checkpoint reads the signed checkpoint and when it was written.
func (rs *reports) checkpoint() ([]byte, time.Time, error) {
	f, err := os.OpenInRoot(rs.dir, layout.CheckpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, errNoCheckpoint
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("couldn't read the checkpoint: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("couldn't read the checkpoint: %w", err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return nil, time.Time{}, fmt.Errorf("couldn't read the checkpoint: %w", err)
	}
	return b.Bytes(), fi.ModTime().UTC(), nil
}

// pinned is the log as of one checkpoint: the one the report names is the
// one the page shows, even if a newer one is published meanwhile.
type pinned struct {
	translog.Source
	checkpoint []byte
}

func (p pinned) ReadCheckpoint(context.Context) ([]byte, error) { return p.checkpoint, nil }

func (rs *reports) compute(ctx context.Context, p period, raw []byte, mtime time.Time) (*computed, error) {
	dirSrc, err := translog.OpenSource(rs.dir)
	if err != nil {
		return nil, err
	}
	src := pinned{dirSrc, raw}
	r, err := report.Compute(ctx, src, rs.vkey, report.Options{From: p.from, To: p.to})
	if err != nil {
		return nil, err
	}
	js, err := r.JSON()
	if err != nil {
		return nil, err
	}
	info, err := describeCheckpoint(raw, rs.vkey)
	if err != nil {
		return nil, err
	}
	info.Time = mtime
	s, err := statementSeries(ctx, src, r, p)
	if err != nil {
		return nil, err
	}
	return &computed{r: r, json: js, checkpoint: info, series: s}, nil
}

// describeCheckpoint opens a checkpoint the report has verified.
func describeCheckpoint(raw []byte, vkey string) (checkpointInfo, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return checkpointInfo{}, fmt.Errorf("couldn't parse verifier key: %w", err)
	}
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		return checkpointInfo{}, fmt.Errorf("couldn't open the checkpoint: %w", err)
	}
	var c tlog.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil {
		return checkpointInfo{}, fmt.Errorf("couldn't parse the checkpoint: %w", err)
	}
	info := checkpointInfo{Origin: c.Origin, Size: c.Size, Root: hex.EncodeToString(c.Hash),
		RootB64: base64.StdEncoding.EncodeToString(c.Hash), Raw: string(raw)}
	for _, s := range n.UnverifiedSigs {
		info.Cosignatures = append(info.Cosignatures, cosignature{Name: s.Name, Hash: fmt.Sprintf("%08x", s.Hash)})
	}
	return info, nil
}

// series is the period's statements over time: allowed and denied, and
// denials by rule, per bucket of Step. The report has the totals only;
// the series are counted here from the same checkpoint's entries, by the
// report's rules (entries timed in [From, To); a statement denied by two
// rules counts for both).
type series struct {
	Step    string     `json:"step"`
	Labels  []string   `json:"labels"`
	Allowed []uint64   `json:"allowed"`
	Denied  []uint64   `json:"denied"`
	Rules   []string   `json:"rules"`
	ByRule  [][]uint64 `json:"by_rule"`
}

// steps are the bucket widths a series may have: the narrowest that keeps
// it within maxBuckets.
var steps = []struct {
	d    time.Duration
	name string
}{
	{time.Second, "second"}, {10 * time.Second, "10 seconds"},
	{time.Minute, "minute"}, {5 * time.Minute, "5 minutes"}, {15 * time.Minute, "15 minutes"},
	{time.Hour, "hour"}, {6 * time.Hour, "6 hours"}, {24 * time.Hour, "day"}, {7 * 24 * time.Hour, "week"},
	{30 * 24 * time.Hour, "30 days"}, {365 * 24 * time.Hour, "365 days"},
}

const maxBuckets = 120

func statementSeries(ctx context.Context, src translog.Source, r *report.Report, p period) (*series, error) {
	s := &series{Labels: []string{}, Allowed: []uint64{}, Denied: []uint64{}, Rules: []string{}}
	for _, rc := range r.Statements.DenialsByRule {
		s.Rules = append(s.Rules, rc.Rule)
	}
	if r.Statements.Total == 0 {
		return s, nil
	}
	// Two passes, so that memory stays constant: the first finds when the
	// period's statements begin and end, the second counts them.
	var first, last time.Time
	err := statements(ctx, src, r.Checkpoint.Size, p, func(e *record.Entry) {
		if first.IsZero() || e.Time.Before(first) {
			first = e.Time
		}
		if e.Time.After(last) {
			last = e.Time
		}
	})
	if err != nil {
		return nil, err
	}
	step := steps[len(steps)-1]
	for _, st := range steps {
		if last.Sub(first.Truncate(st.d))/st.d < maxBuckets {
			step = st
			break
		}
	}
	start := first.Truncate(step.d)
	n := int(last.Sub(start)/step.d) + 1
	s.Step = step.name
	s.Allowed, s.Denied = make([]uint64, n), make([]uint64, n)
	ruleIndex := map[string]int{}
	s.ByRule = make([][]uint64, len(s.Rules))
	for i, rule := range s.Rules {
		ruleIndex[rule] = i
		s.ByRule[i] = make([]uint64, n)
	}
	label := "2006-01-02 15:04"
	switch {
	case step.d < time.Minute:
		label = "15:04:05"
	case step.d >= 24*time.Hour:
		label = "2006-01-02"
	}
	for i := range n {
		s.Labels = append(s.Labels, start.Add(time.Duration(i)*step.d).UTC().Format(label))
	}
	err = statements(ctx, src, r.Checkpoint.Size, p, func(e *record.Entry) {
		i := min(max(int(e.Time.Sub(start)/step.d), 0), n-1)
		if e.Decision == "allow" {
			s.Allowed[i]++
			return
		}
		s.Denied[i]++
		for _, rule := range e.Rules {
			if k, ok := ruleIndex[rule]; ok {
				s.ByRule[k][i]++
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// statements calls f for each statement entry of the period among the
// first size entries of src.
func statements(ctx context.Context, src translog.Source, size uint64, p period, f func(*record.Entry)) error {
	for b := uint64(0); b*layout.EntryBundleWidth < size; b++ {
		eb, err := client.GetEntryBundle(ctx, src.ReadEntryBundle, b, size)
		if err != nil {
			return fmt.Errorf("couldn't read entries: %w", err)
		}
		for _, data := range eb.Entries {
			e, err := record.Parse(data)
			if err != nil {
				return fmt.Errorf("couldn't parse an entry: %w", err)
			}
			if e.Kind != record.KindStatement || !p.from.IsZero() && e.Time.Before(p.from) || !p.to.IsZero() && !e.Time.Before(p.to) {
				continue
			}
			f(e)
		}
	}
	return nil
}
