package policy

import (
	"encoding/binary"
	"sync"
)

// A decision depends on nothing but the request (there are no entities and
// no clock), and building Cedar's context costs far more than evaluating it.
// Gateways ask the same questions over and over (one prepared statement, one
// session), so decisions are memoised by an exact encoding of the request.

// memoSize bounds the memo; when full it is emptied rather than managed,
// which keeps the hot path to one map lookup.
const memoSize = 4096

type memo struct {
	mu sync.RWMutex
	m  map[string]Decision
}

func (c *memo) get(key []byte) (Decision, bool) {
	c.mu.RLock()
	d, ok := c.m[string(key)]
	c.mu.RUnlock()
	return d, ok
}

func (c *memo) put(key []byte, d Decision) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= memoSize {
		c.m = make(map[string]Decision, memoSize)
	}
	c.m[string(key)] = d
	c.mu.Unlock()
}

// appendKey appends an injective encoding of every field of r: strings and
// lists are length-prefixed, so no two requests share a key.
// TestMemoKeyCoversEveryField fails if a field of Request is left out.
func appendKey(b []byte, r *Request) []byte {
	b = binary.AppendVarint(b, int64(r.Phase))
	b = appendString(b, r.Tenant)
	b = appendString(b, r.Unit)
	b = appendString(b, r.Analyst)
	b = appendBool(b, r.Suspended)
	b = appendString(b, r.Class)
	b = appendStrings(b, r.Unjudged)
	b = binary.AppendUvarint(b, uint64(len(r.Datasets)))
	for _, d := range r.Datasets {
		b = appendString(b, d.Name)
		b = appendString(b, d.Category)
		b = appendBool(b, d.Registered)
		b = appendBool(b, d.PersonLevel)
	}
	b = appendStrings(b, r.ProtectedColumns)
	b = appendBool(b, r.WholeRow)
	b = appendBool(b, r.SubjectPredicate)
	b = appendBool(b, r.PlaceOrTimePredicate)
	b = appendStrings(b, r.Hazards)
	if a := r.Authority; a == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendString(b, a.ID)
		b = appendString(b, a.Kind)
		b = appendString(b, a.Unit)
		b = appendStrings(b, a.Datasets)
		b = appendBool(b, a.ListsSubjects)
		b = binary.AppendVarint(b, a.Subjects)
		b = binary.AppendVarint(b, a.MaxSubjects)
		b = appendBool(b, a.Active)
	}
	b = binary.AppendVarint(b, r.ResultSubjects)
	b = binary.AppendVarint(b, r.Coverage.UnitSubjects)
	b = binary.AppendVarint(b, r.Coverage.UnitCap)
	b = binary.AppendVarint(b, r.Coverage.TenantSubjects)
	b = binary.AppendVarint(b, r.Coverage.TenantCap)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}
