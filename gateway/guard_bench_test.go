package gateway

import (
	"encoding/binary"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// BenchmarkSubjectValue normalises one subject key in each form a client
// may ask for.
func BenchmarkSubjectValue(b *testing.B) {
	int8v := binary.BigEndian.AppendUint64(nil, 102)
	int4v := binary.BigEndian.AppendUint32(nil, 102)
	uuid := []byte{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}
	for _, c := range []struct {
		name   string
		v      []byte
		typ    uint32
		format int16
		want   string
	}{
		{"text", []byte("102"), oidInt8, 0, "102"},
		{"int8-binary", int8v, oidInt8, 1, "102"},
		{"int4-binary", int4v, oidInt4, 1, "102"},
		{"uuid-binary", uuid, oidUUID, 1, "123e4567-e89b-12d3-a456-426614174000"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v, ok := subjectValue(c.v, c.typ, c.format); !ok || v != c.want {
					b.Fatalf("got %q, %v", v, ok)
				}
			}
		})
	}
}

// BenchmarkGuardRow is the result guard's work per DataRow: "pgbench" is
// the harness's statement (full_name only: no subject key in the result,
// so subjects come from the predicate), "person_id" a result that carries
// the key, in binary, over three subjects or ever new ones.
func BenchmarkGuardRow(b *testing.B) {
	const personsOID = 16400
	cat := &catalog{byOID: map[uint32]*table{personsOID: {name: "public.persons", oid: personsOID, subjectAtt: 1}}}
	name := pgproto3.FieldDescription{Name: []byte("full_name"), TableOID: personsOID, TableAttributeNumber: 2, DataTypeOID: oidText, Format: 0}
	key := pgproto3.FieldDescription{Name: []byte("person_id"), TableOID: personsOID, TableAttributeNumber: 1, DataTypeOID: oidInt8, Format: 1}
	for _, c := range []struct {
		name     string
		fields   []pgproto3.FieldDescription
		distinct uint64 // subjects cycled through
		want     int64  // subjects counted after the first 3 rows
	}{
		{"pgbench", []pgproto3.FieldDescription{name}, 3, 0},
		{"person_id/3-subjects", []pgproto3.FieldDescription{key, name}, 3, 3},
		{"person_id/new-subjects", []pgproto3.FieldDescription{key, name}, 1 << 62, 3},
	} {
		b.Run(c.name, func(b *testing.B) {
			var g guard
			g.describe(cat, &pgproto3.RowDescription{Fields: c.fields})
			rows := make([][][]byte, 1024)
			for i := range rows {
				id := binary.BigEndian.AppendUint64(nil, 101+uint64(i)%min(c.distinct, 1024))
				rows[i] = [][]byte{id, []byte("Person " + strconv.Itoa(i))}
				if len(c.fields) == 1 {
					rows[i] = rows[i][1:]
				}
			}
			for i := range 3 {
				g.row(rows[i])
			}
			if g.count() != c.want {
				b.Fatalf("counted %d subjects after 3 rows, want %d", g.count(), c.want)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%len(rows) == 0 && c.distinct > 3 {
					g.subjects = map[string]struct{}{} // one statement's result at a time
				}
				g.row(rows[i%len(rows)])
				i++
			}
		})
	}
}
