package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// column is one column of a registered dataset, from the backend's catalog.
type column struct {
	name    string
	typeOID uint32
}

// table is a registered dataset as the backend knows it.
type table struct {
	name       string
	oid        uint32
	columns    map[int16]column // by attribute number
	subjectAtt int16            // 0 when the dataset has no subject key
	names      []string         // column names in attribute order, for the analyser
	placeTime  map[string]bool  // columns that say where or when
}

// catalog maps what RowDescription carries (table OID, attribute number)
// back to registered datasets. Loaded once at start; a dataset renamed or
// altered under a running gateway needs a restart.
type catalog struct {
	byOID  map[uint32]*table
	byName map[string]*table // "schema.table"
}

// Columns implements analysis.Catalog: unqualified names resolve to public,
// as the backend role's search_path does.
func (c *catalog) Columns(schema, name string) []string {
	if schema == "" {
		schema = "public"
	}
	if t := c.byName[schema+"."+name]; t != nil {
		return t.names
	}
	return nil
}

// PostgreSQL type OIDs of times and places.
var placeTimeTypes = map[uint32]bool{
	1082: true, 1083: true, 1114: true, 1184: true, 1266: true, // date, time, timestamp, timestamptz, timetz
	600: true, 601: true, 602: true, 603: true, 604: true, 718: true, // point, lseg, path, box, polygon, circle
}

// placeTimeNames are column names that say where, whatever their type.
var placeTimeNames = map[string]bool{"lat": true, "lon": true, "lng": true, "latitude": true, "longitude": true, "geom": true, "geog": true, "location": true, "position": true}

// loadCatalog reads the registered datasets' OIDs and columns from the
// backend, and checks every registered dataset exists with its subject key
// and protected columns.
func loadCatalog(ctx context.Context, conn *pgconn.PgConn, datasets map[string]Dataset) (*catalog, error) {
	names := make([]string, 0, len(datasets))
	for n := range datasets {
		names = append(names, n)
	}
	res := conn.ExecParams(ctx, `
		SELECT c.oid, n.nspname || '.' || c.relname, a.attnum, a.attname, a.atttypid
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
		WHERE a.attnum > 0 AND NOT a.attisdropped
		  AND n.nspname || '.' || c.relname = ANY (string_to_array($1, ','))`,
		[][]byte{[]byte(strings.Join(names, ","))}, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, fmt.Errorf("couldn't read the datasets' columns: %w", res.Err)
	}
	cat := &catalog{byOID: map[uint32]*table{}, byName: map[string]*table{}}
	byName := cat.byName
	for _, row := range res.Rows {
		var oid, typ uint32
		var att int16
		fmt.Sscan(string(row[0]), &oid)
		fmt.Sscan(string(row[2]), &att)
		fmt.Sscan(string(row[4]), &typ)
		name := string(row[1])
		t := byName[name]
		if t == nil {
			t = &table{name: name, oid: oid, columns: map[int16]column{}}
			byName[name] = t
			cat.byOID[oid] = t
		}
		t.columns[att] = column{name: string(row[3]), typeOID: typ}
	}
	for _, t := range byName {
		t.placeTime = map[string]bool{}
		maxAtt := int16(0)
		for att := range t.columns {
			maxAtt = max(maxAtt, att)
		}
		for att := int16(1); att <= maxAtt; att++ {
			c, ok := t.columns[att]
			if !ok {
				continue
			}
			t.names = append(t.names, c.name)
			if placeTimeTypes[c.typeOID] || placeTimeNames[c.name] {
				t.placeTime[c.name] = true
			}
		}
	}
	for name, d := range datasets {
		t := byName[name]
		if t == nil {
			return nil, fmt.Errorf("registered dataset %s does not exist in the backend database (or the gateway's role cannot see it: run custodes setup)", name)
		}
		want := append([]string{}, d.Protected...)
		if d.SubjectKey != "" {
			want = append(want, d.SubjectKey)
		}
		for _, col := range want {
			att, ok := t.attnum(col)
			if !ok {
				return nil, fmt.Errorf("registered dataset %s has no column %s", name, col)
			}
			if col == d.SubjectKey {
				t.subjectAtt = att
			}
		}
	}
	return cat, nil
}

func (t *table) attnum(name string) (int16, bool) {
	for att, c := range t.columns {
		if c.name == name {
			return att, true
		}
	}
	return 0, false
}
