package demodata

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// reference is the fixed "now" of the data. Timestamps are measured back from it, not from
// the clock, so that the same n yields the same rows on any day.
var reference = time.Date(2025, time.June, 1, 0, 0, 0, 0, time.UTC)

// rootSeed seeds every stream; the second PCG seed word says which table and row key.
const rootSeed = 0x637573746f646573 // "custodes"

// warrantSubjects are the subjects of the demo's warrants; each has rows in every table.
var warrantSubjects = []int64{101, 102, 103, 2001}

func isWarrantSubject(p int64) bool {
	for _, s := range warrantSubjects {
		if p == s {
			return true
		}
	}
	return false
}

// Salts name the independent streams. Each row key (a person or address id) gets a stream
// of its own per salt, so a table can be generated alone, lazily and in any order, and the
// number of rows a key has can be learned without generating them.
const (
	saltAddress uint64 = iota + 1
	saltHome
	saltPersons
	saltPings
	saltAccounts
	saltPosts
	saltCases
)

// mix is the splitmix64 finalizer. It spreads salt and key over the whole seed word so
// that neighbouring keys don't start from neighbouring PCG states.
func mix(salt uint64, key int64) uint64 {
	z := salt<<56 ^ uint64(key)
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// A generator produces the rows of the demo data for n persons.
// It is not safe for concurrent use.
type generator struct {
	persons, addresses int64

	rowPCG rand.PCG // the stream of the row being generated
	row    *rand.Rand
	auxPCG rand.PCG // streams consulted from other tables' rows (addresses, homes)
	aux    *rand.Rand

	officers []string

	// The last home looked up: pings and accounts ask for the same person's repeatedly.
	homeOf int64
	homeID int64
	homeAt place
}

func newGenerator(n int64) *generator {
	g := &generator{persons: n, addresses: max(1, n/2)}
	g.row = rand.New(&g.rowPCG)
	g.aux = rand.New(&g.auxPCG)
	r := g.stream(&g.auxPCG, 0, 0)
	for range 40 {
		g.officers = append(g.officers, fmt.Sprintf("%s %c. %s",
			officerRanks[r.IntN(len(officerRanks))], firstNames[r.IntN(len(firstNames))][0], lastNames[r.IntN(len(lastNames))]))
	}
	return g
}

// stream resets pcg to the stream of (salt, key) and returns the Rand that reads it.
func (g *generator) stream(pcg *rand.PCG, salt uint64, key int64) *rand.Rand {
	pcg.Seed(rootSeed, mix(salt, key))
	if pcg == &g.rowPCG {
		return g.row
	}
	return g.aux
}

type place struct {
	street, city, postal string
	lat, lon             float64
}

// address returns address a, 1 ≤ a ≤ g.addresses.
func (g *generator) address(a int64) place {
	r := g.stream(&g.auxPCG, saltAddress, a)
	c := &cities[pickCity(r)]
	return place{
		street: fmt.Sprintf("%d %s %s", 1+r.IntN(9899), streetNames[r.IntN(len(streetNames))], streetSuffixes[r.IntN(len(streetSuffixes))]),
		city:   c.name,
		postal: fmt.Sprintf("%s%02d", c.zip3, r.IntN(100)),
		lat:    round6(c.lat + r.NormFloat64()*0.03),
		lon:    round6(c.lon + r.NormFloat64()*0.03),
	}
}

// home returns the address id and address where person p lives.
func (g *generator) home(p int64) (int64, place) {
	if g.homeOf != p {
		a := 1 + g.stream(&g.auxPCG, saltHome, p).Int64N(g.addresses)
		g.homeOf, g.homeID, g.homeAt = p, a, g.address(a)
	}
	return g.homeID, g.homeAt
}

// A table says how to generate one table: for each key from 1 to keys(), count() rows,
// each made by row(). count and row read the key's stream r, count first.
type table struct {
	name    string // in schema public
	columns []string
	salt    uint64
	keys    func(g *generator) int64
	count   func(g *generator, r *rand.Rand, key int64) int // nil: one row per key
	row     func(g *generator, r *rand.Rand, key, id int64) []any
}

func perPerson(g *generator) int64  { return g.persons }
func perAddress(g *generator) int64 { return g.addresses }

var tables = []*table{
	{
		name:    "addresses",
		columns: []string{"address_id", "street", "city", "postal_code", "lat", "lon"},
		salt:    saltAddress,
		keys:    perAddress,
		row: func(g *generator, _ *rand.Rand, a, _ int64) []any {
			p := g.address(a)
			return []any{a, p.street, p.city, p.postal, p.lat, p.lon}
		},
	},
	{
		name:    "persons",
		columns: []string{"person_id", "full_name", "date_of_birth", "nationality", "immigration_status", "address_id", "religion", "ethnicity", "phone"},
		salt:    saltPersons,
		keys:    perPerson,
		row:     personRow,
	},
	{
		name:    "location_pings",
		columns: []string{"ping_id", "person_id", "observed_at", "lat", "lon", "source"},
		salt:    saltPings,
		keys:    perPerson,
		count:   func(_ *generator, r *rand.Rand, _ int64) int { return 3 + r.IntN(6) },
		row:     pingRow,
	},
	{
		name:    "utility_accounts",
		columns: []string{"account_id", "person_id", "address_id", "provider", "opened_on"},
		salt:    saltAccounts,
		keys:    perPerson,
		count:   func(_ *generator, r *rand.Rand, p int64) int { return some(r, p, 0.85, 2) },
		row:     accountRow,
	},
	{
		name:    "social_posts",
		columns: []string{"post_id", "person_id", "posted_at", "topic", "body"},
		salt:    saltPosts,
		keys:    perPerson,
		count:   func(_ *generator, r *rand.Rand, p int64) int { return some(r, p, 0.10, 6) },
		row:     postRow,
	},
	{
		name:    "case_files",
		columns: []string{"case_id", "person_id", "opened_on", "status", "officer"},
		salt:    saltCases,
		keys:    perPerson,
		count:   func(_ *generator, r *rand.Rand, p int64) int { return some(r, p, 0.03, 2) },
		row:     caseRow,
	},
}

// some returns how many rows person p has in a table that a fraction share of persons
// appear in, with between 1 and most rows each. Warrant subjects always appear.
func some(r *rand.Rand, p int64, share float64, most int) int {
	in, k := r.Float64() < share, 1+r.IntN(most)
	if !in && !isWarrantSubject(p) {
		return 0
	}
	return k
}

func personRow(g *generator, r *rand.Rand, p, _ int64) []any {
	name := firstNames[r.IntN(len(firstNames))] + " " + lastNames[r.IntN(len(lastNames))]
	if r.IntN(4) == 0 {
		name = firstNames[r.IntN(len(firstNames))] + " " + string(rune('A'+r.IntN(26))) + ". " + lastNames[r.IntN(len(lastNames))]
	}
	age := 18 + r.IntN(68)
	born := time.Date(reference.Year()-age-1, time.January, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(365))
	nationality, status := "United States", "citizen"
	if r.Float64() < 0.16 {
		nationality, status = pick(r, foreignNationalities), pick(r, foreignStatuses)
	}
	religion, ethnicity := pick(r, religions), pick(r, ethnicities)
	a, home := g.home(p)
	area := cities[0].area
	for _, c := range cities {
		if c.name == home.city {
			area = c.area
		}
	}
	phone := fmt.Sprintf("+1-%03d-555-%04d", area, r.IntN(10000))
	return []any{p, name, born, nationality, status, a, religion, ethnicity, phone}
}

func pingRow(g *generator, r *rand.Rand, p, id int64) []any {
	_, home := g.home(p)
	at := reference.Add(-time.Duration(1+r.Int64N(90*24*3600)) * time.Second)
	lat, lon := home.lat, home.lon
	var spread float64
	switch x := r.Float64(); {
	case x < 0.6: // at home
		spread = 0.002
	case x < 0.9: // about town
		spread = 0.04
	default: // travelling
		c := &cities[pickCity(r)]
		lat, lon, spread = c.lat, c.lon, 0.05
	}
	lat, lon = round6(lat+r.NormFloat64()*spread), round6(lon+r.NormFloat64()*spread)
	return []any{id, p, at, lat, lon, pick(r, pingSources)}
}

func accountRow(g *generator, r *rand.Rand, p, id int64) []any {
	a, _ := g.home(p)
	if r.IntN(5) == 0 { // a previous address
		a = 1 + r.Int64N(g.addresses)
	}
	opened := reference.AddDate(0, 0, -1-r.IntN(12*365))
	return []any{id, p, a, providers[r.IntN(len(providers))], opened}
}

func postRow(_ *generator, r *rand.Rand, p, id int64) []any {
	at := reference.Add(-time.Duration(1+r.Int64N(2*365*24*3600)) * time.Second)
	topic := topics[r.IntN(len(topics))]
	lines := topicLines[topic]
	body := lines[r.IntN(len(lines))]
	if r.IntN(2) == 0 {
		body += " " + lines[r.IntN(len(lines))]
	}
	return []any{id, p, at, topic, body}
}

func caseRow(g *generator, r *rand.Rand, p, id int64) []any {
	opened := reference.AddDate(0, 0, -1-r.IntN(5*365))
	caseID := fmt.Sprintf("CF-%d-%06d", opened.Year(), id)
	return []any{caseID, p, opened, pick(r, caseStatuses), g.officers[r.IntN(len(g.officers))]}
}

func pickCity(r *rand.Rand) int {
	total := 0
	for _, c := range cities {
		total += c.weight
	}
	x := r.IntN(total)
	for i, c := range cities {
		if x < c.weight {
			return i
		}
		x -= c.weight
	}
	panic("unreachable")
}

func pick(r *rand.Rand, ws []weighted) string {
	total := 0
	for _, w := range ws {
		total += w.weight
	}
	x := r.IntN(total)
	for _, w := range ws {
		if x < w.weight {
			return w.value
		}
		x -= w.weight
	}
	panic("unreachable")
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// rows returns a function that yields t's rows in order, then nil. onRow is called after
// each row.
func (g *generator) rows(t *table, onRow func()) func() ([]any, error) {
	keys := t.keys(g)
	var key, id int64
	var left int
	var r *rand.Rand
	return func() ([]any, error) {
		for left == 0 {
			if key == keys {
				return nil, nil
			}
			key++
			r = g.stream(&g.rowPCG, t.salt, key)
			left = 1
			if t.count != nil {
				left = t.count(g, r, key)
			}
		}
		left--
		id++
		row := t.row(g, r, key, id)
		onRow()
		return row, nil
	}
}

// count returns how many rows t has, without generating them.
func (g *generator) count(t *table) int64 {
	keys := t.keys(g)
	if t.count == nil {
		return keys
	}
	var n int64
	for key := int64(1); key <= keys; key++ {
		n += int64(t.count(g, g.stream(&g.rowPCG, t.salt, key), key))
	}
	return n
}
