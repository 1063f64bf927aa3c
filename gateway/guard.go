package gateway

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The result guard finds subject keys in a result without rewriting SQL:
// RowDescription carries, for every result column that is a plain column
// reference, the table OID and attribute number it comes from (through
// joins, CTEs and subqueries in FROM). A column that carries 0 is an
// expression — it may hide anything, so it is judged conservatively.

// guard counts the distinct subjects in one statement's result.
type guard struct {
	described bool
	keys      []subjectField // result columns that are a dataset's subject key
	hidden    []int          // result columns that are expressions
	subjects  map[string]struct{}
	opaque    bool // a subject value could not be read (unknown binary type)
}

type subjectField struct {
	index   int
	typeOID uint32
	format  int16
}

// describe sets up the guard from the statement's RowDescription.
func (g *guard) describe(cat *catalog, rd *pgproto3.RowDescription) {
	*g = guard{described: true, subjects: g.subjects}
	if g.subjects == nil {
		g.subjects = map[string]struct{}{}
	}
	for i, f := range rd.Fields {
		if f.TableOID == 0 {
			g.hidden = append(g.hidden, i)
			continue
		}
		t := cat.byOID[f.TableOID]
		if t != nil && t.subjectAtt != 0 && int16(f.TableAttributeNumber) == t.subjectAtt {
			g.keys = append(g.keys, subjectField{index: i, typeOID: f.DataTypeOID, format: f.Format})
		}
	}
}

// row adds the subjects of one DataRow.
func (g *guard) row(values [][]byte) {
	for _, k := range g.keys {
		if k.index >= len(values) || values[k.index] == nil {
			continue
		}
		v, ok := subjectValue(values[k.index], k.typeOID, k.format)
		if !ok {
			g.opaque = true
			continue
		}
		g.subjects[v] = struct{}{}
	}
}

// count is the distinct subjects seen so far.
func (g *guard) count() int64 { return int64(len(g.subjects)) }

// PostgreSQL type OIDs the guard can read in binary.
const (
	oidInt8    = 20
	oidInt2    = 21
	oidInt4    = 23
	oidText    = 25
	oidVarchar = 1043
	oidBpchar  = 1042
	oidUUID    = 2950
)

// subjectValue normalises a subject key to its text form, so the same
// person counts once whether the client asked for text or binary.
func subjectValue(v []byte, typ uint32, format int16) (string, bool) {
	if format == 0 {
		return string(v), true
	}
	switch typ {
	case oidInt8:
		if len(v) == 8 {
			return strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10), true
		}
	case oidInt4:
		if len(v) == 4 {
			return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(v))), 10), true
		}
	case oidInt2:
		if len(v) == 2 {
			return strconv.FormatInt(int64(int16(binary.BigEndian.Uint16(v))), 10), true
		}
	case oidText, oidVarchar, oidBpchar:
		return string(v), true
	case oidUUID:
		if len(v) == 16 {
			h := hex.EncodeToString(v)
			return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
		}
	}
	return "", false
}
