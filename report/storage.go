package report

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/custodes/custodes/record"
)

// storage follows one tenant's storage attestations. An attestation
// carries attrs rows.DATASET and bytes.DATASET (decimal); other attrs and
// values that are not numbers are ignored, so that an attestation may list
// every dataset or only some: a dataset keeps its latest attested value
// until the next, attestations before the period included.
type storage struct {
	latest       map[string]*sizes // dataset → latest attested sizes
	first        map[string]sizes  // at the end of the first sampled day
	attestations uint64
	days         []Sample
	lastDay      int32
}

type sizes struct{ rows, bytes uint64 }

// attest applies an attestation of day d; inPeriod says whether to sample.
func (s *storage) attest(e *record.Entry, d int32, inPeriod bool) {
	if inPeriod && len(s.days) == 1 && d > s.lastDay {
		// The first day is over: keep its datasets for Storage.Datasets.
		s.first = make(map[string]sizes, len(s.latest))
		for k, v := range s.latest {
			s.first[k] = *v
		}
	}
	for _, a := range e.Attrs {
		kind, dataset, ok := strings.Cut(a.Key, ".")
		if !ok || dataset == "" || kind != "rows" && kind != "bytes" {
			continue
		}
		n, err := strconv.ParseUint(a.Value, 10, 64)
		if err != nil {
			continue
		}
		v := s.latest[dataset]
		if v == nil {
			v = &sizes{}
			s.latest[dataset] = v
		}
		if kind == "rows" {
			v.rows = n
		} else {
			v.bytes = n
		}
	}
	if !inPeriod {
		return
	}
	s.attestations++
	var total sizes
	for _, v := range s.latest {
		total.rows = addSat(total.rows, v.rows)
		total.bytes = addSat(total.bytes, v.bytes)
	}
	if len(s.days) == 0 || d > s.lastDay {
		s.days = append(s.days, Sample{Date: date(d)})
		s.lastDay = d
	}
	// A late attestation (timed before the last sampled day) counts for
	// that day: the day's sample is the state after it.
	s.days[len(s.days)-1].Rows, s.days[len(s.days)-1].Bytes = total.rows, total.bytes
}

func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// ratio is b/a rounded to 3 decimals, or nil when a is 0.
func ratio(a, b uint64) *float64 {
	if a == 0 {
		return nil
	}
	r := math.Round(float64(b)/float64(a)*1000) / 1000
	return &r
}

func (s *storage) result(tenant string) Storage {
	first, last := s.days[0], s.days[len(s.days)-1]
	if s.first == nil { // one day only
		s.first = make(map[string]sizes, len(s.latest))
		for k, v := range s.latest {
			s.first[k] = *v
		}
	}
	out := Storage{
		Tenant: tenant, Attestations: s.attestations, First: first, Last: last,
		GrowthBytes: ratio(first.Bytes, last.Bytes), GrowthRows: ratio(first.Rows, last.Rows),
		Datasets: make([]DatasetGrowth, 0, len(s.latest)), Days: s.days,
	}
	names := make([]string, 0, len(s.latest))
	for k := range s.latest {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		f, l := s.first[n], s.latest[n]
		out.Datasets = append(out.Datasets, DatasetGrowth{Dataset: n,
			FirstRows: f.rows, FirstBytes: f.bytes, LastRows: l.rows, LastBytes: l.bytes,
			GrowthBytes: ratio(f.bytes, l.bytes)})
	}
	return out
}
