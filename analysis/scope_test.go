package analysis

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// fakeCatalog is the demo schema of DESIGN.md, in attribute order.
type fakeCatalog map[string][]string

func (c fakeCatalog) Columns(schema, name string) []string {
	if schema != "" && schema != "public" {
		return nil
	}
	return c[name]
}

var demoCatalog = fakeCatalog{
	"persons":          {"person_id", "full_name", "date_of_birth", "nationality", "immigration_status", "address_id", "religion", "ethnicity", "phone"},
	"addresses":        {"address_id", "street", "city", "postal_code", "lat", "lon"},
	"location_pings":   {"ping_id", "person_id", "observed_at", "lat", "lon", "source"},
	"utility_accounts": {"account_id", "person_id", "address_id", "provider", "opened_on"},
	"social_posts":     {"post_id", "person_id", "posted_at", "topic", "body"},
	"case_files":       {"case_id", "person_id", "opened_on", "status", "officer"},
}

// useString renders a use as "alias=relation r(col=n,...) p(col,...)".
func useString(u RelationUse) string {
	var b strings.Builder
	b.WriteString(u.Alias)
	if u.Alias != u.Relation.Name {
		b.WriteString("=" + u.Relation.String())
	}
	if len(u.Restricted) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(u.Restricted)) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, u.Restricted[k]))
		}
		b.WriteString(" r(" + strings.Join(parts, ",") + ")")
	}
	if len(u.Predicated) > 0 {
		b.WriteString(" p(" + strings.Join(slices.Sorted(slices.Values(u.Predicated)), ",") + ")")
	}
	return b.String()
}

func resolvedStrings(st *Statement) []string {
	var out []string
	for _, c := range st.ResolvedColumns {
		out = append(out, c.Relation.String()+"."+c.Column+"@"+string(c.Clause))
	}
	slices.Sort(out)
	return out
}

// scopeCase is one statement and what AnalyzeWith must find in it with
// the demo catalog. uses is compared exactly (in order, see useString);
// has and hasnt are resolved columns "relation.column@clause"; ambiguous
// says whether Ambiguous must be empty or not.
type scopeCase struct {
	sql       string
	uses      []string
	has       []string
	hasnt     []string
	ambiguous bool
}

var scopeCases = []scopeCase{
	// Restricted or not, at one level.
	{sql: "SELECT full_name FROM persons WHERE person_id = 101",
		uses: []string{"persons r(person_id=1) p(person_id)"}, has: []string{"persons.full_name@select", "persons.person_id@where"}},
	{sql: "SELECT * FROM location_pings WHERE person_id = 101 OR lat > 40",
		uses: []string{"location_pings p(lat,person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE NOT person_id <> 101 AND lat > 40",
		uses: []string{"location_pings p(lat,person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE NOT (person_id = 101)",
		uses: []string{"location_pings p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id BETWEEN 101 AND 101 AND lat > 40",
		uses: []string{"location_pings p(lat,person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id::text = '101'",
		uses: []string{"location_pings p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE abs(person_id) = 101",
		uses: []string{"location_pings p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id = '101'::bigint AND observed_at > now() - interval '1 day'",
		uses: []string{"location_pings r(person_id=1) p(observed_at,person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE CAST($1 AS bigint) = person_id",
		uses: []string{"location_pings r(person_id=1) p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id IN (101, 102, 101, 103)",
		uses: []string{"location_pings r(person_id=3) p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id IN ($1, $2, $1)",
		uses: []string{"location_pings r(person_id=2) p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id IN (101, ping_id)",
		uses: []string{"location_pings p(person_id,ping_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id NOT IN (101, 102)",
		uses: []string{"location_pings p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id = ANY('{1,2,2}')",
		uses: []string{"location_pings r(person_id=2) p(person_id)"}},
	{sql: `SELECT lat FROM location_pings WHERE person_id = ANY('{"1", 2, NULL, 3}'::bigint[])`,
		uses: []string{"location_pings r(person_id=3) p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id = ANY($1)",
		uses: []string{"location_pings r(person_id=-1) p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id = ANY(ARRAY[7, 8, 9])",
		uses: []string{"location_pings r(person_id=3) p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id = ANY(ARRAY(SELECT person_id FROM case_files))",
		uses: []string{"location_pings p(person_id)", "case_files p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id = ALL('{1}')",
		uses: []string{"location_pings p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE CASE WHEN person_id = 101 THEN true END AND lat > 40",
		uses: []string{"location_pings p(lat,person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id = 101 AND person_id IN (101, 102)",
		uses: []string{"location_pings r(person_id=1) p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id = NULL",
		uses: []string{"location_pings p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE (person_id, ping_id) = (101, 5)",
		uses: []string{"location_pings r(person_id=1,ping_id=1) p(person_id,ping_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id OPERATOR(pg_catalog.=) 1",
		uses: []string{"location_pings r(person_id=1) p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id OPERATOR(public.=) 1",
		uses: []string{"location_pings p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE (person_id = 1 AND lat > 40) AND lon < 0",
		uses: []string{"location_pings r(person_id=1) p(lat,lon,person_id)"}},

	// Joins.
	{sql: "SELECT l.lat FROM persons p JOIN location_pings l ON l.person_id = p.person_id WHERE p.person_id = 101",
		uses: []string{"p=persons r(person_id=1) p(person_id)", "l=location_pings r(person_id=1) p(person_id)"}},
	{sql: "SELECT l.lat FROM persons p LEFT JOIN location_pings l ON l.person_id = p.person_id AND p.person_id = 101",
		uses: []string{"p=persons p(person_id)", "l=location_pings r(person_id=1) p(person_id)"}},
	{sql: "SELECT l.lat FROM location_pings l LEFT JOIN persons p ON p.person_id = 101 WHERE l.lat > 40",
		uses: []string{"l=location_pings p(lat)", "p=persons r(person_id=1) p(person_id)"}},
	{sql: "SELECT l.lat FROM persons p RIGHT JOIN location_pings l ON l.person_id = p.person_id AND l.person_id = 9",
		uses: []string{"p=persons r(person_id=1) p(person_id)", "l=location_pings p(person_id)"}},
	{sql: "SELECT l.lat FROM persons p FULL JOIN location_pings l ON l.person_id = p.person_id WHERE p.person_id = 101",
		uses: []string{"p=persons r(person_id=1) p(person_id)", "l=location_pings p(person_id)"}},
	{sql: "SELECT l.lat FROM location_pings l JOIN persons p ON p.person_id = l.person_id AND l.person_id = 101",
		uses: []string{"l=location_pings r(person_id=1) p(person_id)", "p=persons r(person_id=1) p(person_id)"}},
	{sql: "SELECT lat FROM persons JOIN location_pings USING (person_id) WHERE person_id = 101",
		uses: []string{"persons r(person_id=1) p(person_id)", "location_pings r(person_id=1) p(person_id)"}},
	{sql: "SELECT lat FROM persons LEFT JOIN location_pings USING (person_id) WHERE person_id = 101",
		uses: []string{"persons r(person_id=1) p(person_id)", "location_pings r(person_id=1) p(person_id)"}},
	{sql: "SELECT lat FROM location_pings NATURAL JOIN case_files WHERE person_id IN (5, 6)",
		uses: []string{"location_pings r(person_id=2) p(person_id)", "case_files r(person_id=2) p(person_id)"}},
	{sql: "SELECT l.lat FROM persons p, location_pings l WHERE l.person_id = p.person_id AND p.person_id = 101",
		uses: []string{"p=persons r(person_id=1) p(person_id)", "l=location_pings r(person_id=1) p(person_id)"}},
	{sql: "SELECT l.lat FROM persons p, location_pings l WHERE p.person_id = 101 AND l.lat > 40",
		uses: []string{"p=persons r(person_id=1) p(person_id)", "l=location_pings p(lat)"}},
	{sql: "SELECT a.city FROM persons p JOIN utility_accounts u ON u.person_id = p.person_id JOIN addresses a ON a.address_id = u.address_id WHERE p.person_id = 3",
		uses: []string{"p=persons r(person_id=1) p(person_id)", "u=utility_accounts r(person_id=1) p(address_id,person_id)", "a=addresses p(address_id)"}},

	// Subqueries, correlated or not.
	{sql: "SELECT * FROM persons WHERE person_id IN (SELECT person_id FROM location_pings WHERE lat > 40 AND lon < -70)",
		uses: []string{"persons p(person_id)", "location_pings p(lat,lon,person_id)"}},
	{sql: "SELECT * FROM persons p WHERE EXISTS (SELECT 1 FROM location_pings l WHERE l.person_id = p.person_id AND l.lat > 40) AND p.person_id = 7",
		uses: []string{"p=persons r(person_id=1) p(person_id)", "l=location_pings r(person_id=1) p(lat,person_id)"}},
	{sql: "SELECT * FROM persons p WHERE EXISTS (SELECT 1 FROM location_pings l WHERE l.person_id = p.person_id AND l.lat > 40)",
		uses: []string{"p=persons p(person_id)", "l=location_pings p(lat,person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id = (SELECT person_id FROM case_files WHERE case_id = 'C-1') AND lat > 40",
		uses: []string{"location_pings r(person_id=1) p(lat,person_id)", "case_files r(case_id=1) p(case_id,person_id)"}},
	{sql: "SELECT lat FROM location_pings l WHERE l.person_id = (SELECT c.person_id FROM case_files c WHERE c.case_id = l.source)",
		uses: []string{"l=location_pings p(person_id,source)", "c=case_files p(case_id,person_id)"}},
	{sql: "SELECT * FROM persons WHERE EXISTS (SELECT 1 FROM location_pings WHERE full_name = 'x')",
		uses: []string{"persons r(full_name=1) p(full_name)", "location_pings"}, has: []string{"persons.full_name@where"}},
	{sql: "SELECT (SELECT max(observed_at) FROM location_pings l WHERE l.person_id = p.person_id) FROM persons p WHERE p.person_id = 4",
		uses: []string{"p=persons r(person_id=1) p(person_id)", "l=location_pings r(person_id=1) p(person_id)"}},

	// Subqueries in FROM, WITH queries, LATERAL, set operations.
	{sql: "SELECT * FROM (SELECT person_id, lat FROM location_pings WHERE lat > 40) x WHERE x.person_id = 101",
		uses: []string{"location_pings r(person_id=1) p(lat,person_id)"}},
	{sql: "SELECT * FROM (SELECT person_id, lat FROM location_pings ORDER BY lat LIMIT 5) x WHERE x.person_id = 101",
		uses: []string{"location_pings p(lat,person_id)"}},
	{sql: "SELECT * FROM (SELECT person_id, rank() OVER (ORDER BY lat) FROM location_pings) x WHERE person_id = 101",
		uses: []string{"location_pings p(lat,person_id)"}},
	{sql: "SELECT * FROM (SELECT DISTINCT ON (lat) person_id, lat FROM location_pings) x WHERE person_id = 101",
		uses: []string{"location_pings p(lat,person_id)"}},
	{sql: "SELECT * FROM (SELECT person_id + 0 AS pid, lat FROM location_pings) x WHERE pid = 101 AND lat > 40",
		uses: []string{"location_pings p(lat,person_id)"}},
	{sql: "SELECT * FROM (SELECT person_id, max(observed_at) FROM location_pings GROUP BY person_id) x WHERE person_id = 2",
		uses: []string{"location_pings r(person_id=1) p(person_id)"}},
	{sql: "WITH x AS (SELECT * FROM location_pings) SELECT * FROM x WHERE person_id = 101 AND lat > 40",
		uses: []string{"location_pings r(person_id=1) p(lat,person_id)"}},
	{sql: "WITH x AS (SELECT * FROM location_pings) SELECT * FROM x a, x b WHERE a.person_id = 101",
		uses: []string{"location_pings p(person_id)"}},
	{sql: "WITH x AS (SELECT * FROM location_pings) SELECT * FROM x a JOIN x b ON b.person_id = a.person_id WHERE a.person_id IN (1, 2)",
		uses: []string{"location_pings r(person_id=4) p(person_id)"}},
	{sql: "WITH x AS (SELECT lat AS a, person_id FROM location_pings) SELECT person_id FROM x WHERE a > 40",
		uses: []string{"location_pings p(lat)"}},
	{sql: "WITH RECURSIVE t(n) AS (SELECT person_id FROM persons UNION ALL SELECT n FROM t) SELECT n FROM t WHERE n = 1",
		uses: []string{"persons p(person_id)"}}, // no pushing into a recursive query
	{sql: "SELECT x.observed_at FROM persons p, LATERAL (SELECT * FROM location_pings l WHERE l.person_id = p.person_id ORDER BY observed_at DESC LIMIT 1) x WHERE p.person_id = 101",
		uses: []string{"p=persons r(person_id=1) p(person_id)", "l=location_pings r(person_id=1) p(observed_at,person_id)"}},
	{sql: "SELECT x.observed_at FROM persons p, LATERAL (SELECT * FROM location_pings l WHERE l.person_id = p.person_id ORDER BY observed_at DESC LIMIT 1) x",
		uses: []string{"p=persons p(person_id)", "l=location_pings p(observed_at,person_id)"}},
	{sql: "SELECT person_id FROM location_pings WHERE person_id = 1 AND lat > 40 UNION SELECT person_id FROM location_pings WHERE lat > 40",
		uses: []string{"location_pings r(person_id=1) p(lat,person_id)", "location_pings p(lat)"}},
	{sql: "SELECT * FROM (SELECT person_id, lat FROM location_pings UNION ALL SELECT person_id, lat FROM persons JOIN addresses USING (address_id)) u WHERE u.person_id = 7",
		uses: []string{"location_pings r(person_id=1) p(person_id)", "persons r(person_id=1) p(address_id,person_id)", "addresses p(address_id)"}},
	{sql: "SELECT person_id, count(*) FROM location_pings WHERE lat > 40 GROUP BY person_id HAVING person_id = 101",
		uses: []string{"location_pings r(person_id=1) p(lat,person_id)"}},
	{sql: "SELECT person_id, count(*) FROM location_pings WHERE lat > 40 GROUP BY person_id HAVING count(*) = 1",
		uses: []string{"location_pings p(lat,person_id)"}},

	// Statement wrappers.
	{sql: "DECLARE c CURSOR FOR SELECT * FROM location_pings WHERE person_id = 5",
		uses: []string{"location_pings r(person_id=1) p(person_id)"}},
	{sql: "PREPARE q AS SELECT lat FROM location_pings WHERE person_id = $1 AND observed_at > $2",
		uses: []string{"location_pings r(person_id=1) p(observed_at,person_id)"}},
	{sql: "EXPLAIN SELECT lat FROM location_pings WHERE observed_at > now()",
		uses: []string{"location_pings p(observed_at)"}},
	{sql: "COPY (SELECT * FROM location_pings WHERE lat > 40) TO STDOUT",
		uses: []string{"location_pings p(lat)"}},
	{sql: "COPY persons TO STDOUT", uses: []string{"persons"}, has: []string{"persons.religion@select", "persons.ethnicity@select"}},
	{sql: "COPY persons (full_name) TO STDOUT", uses: []string{"persons"}, has: []string{"persons.full_name@select"}, hasnt: []string{"persons.religion@select"}},
	{sql: "UPDATE case_files SET status = 'closed' WHERE person_id = 3",
		uses: []string{"case_files r(person_id=1) p(person_id)"}, has: []string{"case_files.status@assign"}},

	// Predicates that choose rows other than WHERE.
	{sql: "SELECT person_id FROM location_pings ORDER BY (lat - 40.7)^2 + (lon + 74)^2 LIMIT 5",
		uses: []string{"location_pings p(lat,lon)"}},
	{sql: "SELECT count(*) FILTER (WHERE observed_at > now() - interval '1 hour') FROM location_pings",
		uses: []string{"location_pings p(observed_at)"}},
	{sql: "SELECT person_id FROM (SELECT person_id, row_number() OVER (PARTITION BY person_id ORDER BY observed_at) AS n FROM location_pings) x WHERE n = 1",
		uses: []string{"location_pings p(observed_at,person_id)"}},
	{sql: "SELECT lat FROM location_pings ORDER BY 1 LIMIT 3", uses: []string{"location_pings p(lat)"}},
	{sql: "SELECT CASE WHEN lat > 40 THEN person_id END FROM location_pings INTERSECT SELECT person_id FROM persons",
		uses: []string{"location_pings p(lat,person_id)", "persons p(person_id)"}},
	{sql: "SELECT person_id FROM location_pings EXCEPT SELECT person_id FROM persons WHERE person_id = 1",
		uses: []string{"location_pings p(person_id)", "persons r(person_id=1) p(person_id)"}},
	{sql: "SELECT person_id FROM location_pings UNION SELECT person_id FROM persons",
		uses: []string{"location_pings", "persons"}},
	{sql: "SELECT CASE observed_at::date WHEN '2024-01-01' THEN person_id END FROM location_pings WHERE person_id = 3",
		uses: []string{"location_pings r(person_id=1) p(observed_at,person_id)"}},

	// Resolution through aliases, alias lists, stars and whole rows.
	{sql: "SELECT r FROM persons AS p(i, n, d, nat, imm, addr, r)",
		uses: []string{"p=persons"}, has: []string{"persons.religion@select"}, hasnt: []string{"persons.address_id@select"}},
	{sql: "SELECT p.religion, x FROM persons AS p(x) WHERE x = 5",
		uses: []string{"p=persons r(person_id=1) p(person_id)"}, has: []string{"persons.religion@select", "persons.person_id@select"}},
	{sql: "SELECT * FROM persons", uses: []string{"persons"}, has: []string{"persons.religion@select", "persons.ethnicity@select"}},
	{sql: "TABLE persons", uses: []string{"persons"}, has: []string{"persons.religion@select"}},
	{sql: "SELECT p.*, a.city FROM persons p JOIN addresses a USING (address_id)",
		uses: []string{"p=persons p(address_id)", "a=addresses p(address_id)"},
		has:  []string{"persons.ethnicity@select", "addresses.city@select"}, hasnt: []string{"addresses.lat@select"}},
	{sql: "SELECT row_to_json(p) FROM persons p WHERE p.person_id = 1",
		uses: []string{"p=persons r(person_id=1) p(person_id)"}, has: []string{"persons.religion@select"}},
	{sql: "SELECT p.to_json FROM persons p", uses: []string{"p=persons"}, has: []string{"persons.religion@select"}},
	{sql: "SELECT p FROM persons p", uses: []string{"p=persons"}, has: []string{"persons.ethnicity@select"}},
	{sql: "SELECT (p).full_name FROM persons p", uses: []string{"p=persons"},
		has: []string{"persons.full_name@select"}, hasnt: []string{"persons.religion@select"}},
	{sql: "SELECT x FROM (SELECT * FROM persons) x", uses: []string{"persons"}, has: []string{"persons.religion@select"}},
	{sql: "SELECT count(*) FROM persons WHERE row_to_json(persons)::text LIKE '%x%'",
		uses: []string{"persons p(address_id,date_of_birth,ethnicity,full_name,immigration_status,nationality,person_id,phone,religion)"},
		has:  []string{"persons.religion@where"}},
	{sql: "WITH x AS (SELECT religion AS r FROM persons) SELECT r FROM x",
		uses: []string{"persons"}, has: []string{"persons.religion@select"}},
	{sql: "WITH x(a, b) AS (SELECT person_id, religion FROM persons) SELECT b FROM x WHERE a = 101",
		uses: []string{"persons r(person_id=1) p(person_id)"}, has: []string{"persons.religion@select", "persons.person_id@where"}},
	{sql: "SELECT z FROM (SELECT person_id, ethnicity FROM persons) AS s(y, z) ORDER BY y",
		uses: []string{"persons p(person_id)"}, has: []string{"persons.ethnicity@select", "persons.person_id@order_by"}},
	{sql: "SELECT full_name AS n FROM persons ORDER BY n", uses: []string{"persons p(full_name)"}, has: []string{"persons.full_name@order_by"}},
	{sql: "SELECT religion FROM persons GROUP BY 1", uses: []string{"persons p(religion)"}, has: []string{"persons.religion@group_by"}},
	{sql: "SELECT full_name AS religion FROM persons GROUP BY religion, full_name",
		uses: []string{"persons p(full_name,religion)"}, has: []string{"persons.religion@group_by"}},
	{sql: "SELECT full_name AS religion FROM persons ORDER BY religion",
		uses: []string{"persons p(full_name)"}, has: []string{"persons.full_name@order_by"}, hasnt: []string{"persons.religion@order_by"}},
	{sql: "SELECT t.r FROM (SELECT religion AS r FROM persons UNION SELECT ethnicity FROM persons) t",
		uses: []string{"persons", "persons"}, has: []string{"persons.religion@select", "persons.ethnicity@select"}},
	{sql: "SELECT * FROM persons p WHERE EXISTS (SELECT * FROM case_files c WHERE c.person_id = p.person_id) AND p.person_id = 1",
		uses:  []string{"p=persons r(person_id=1) p(person_id)", "c=case_files r(person_id=1) p(person_id)"},
		hasnt: []string{"case_files.officer@select"}},
	{sql: "SELECT * FROM social_posts s JOIN persons USING (person_id) WHERE s.topic = 'x'",
		uses: []string{"s=social_posts r(topic=1) p(person_id,topic)", "persons p(person_id)"}, has: []string{"persons.religion@select"}},
	{sql: "SELECT public.persons.religion FROM public.persons", uses: []string{"persons"}, has: []string{"public.persons.religion@select"}},

	// Ambiguity: deny by default.
	{sql: "SELECT person_id FROM persons, location_pings", uses: []string{"persons", "location_pings"}, ambiguous: true},
	{sql: "SELECT nosuch FROM persons", uses: []string{"persons"}, ambiguous: true},
	{sql: "SELECT * FROM persons p WHERE EXISTS (SELECT 1 FROM mystery m WHERE religion = 'x')",
		uses: []string{"p=persons", "m=mystery"}, ambiguous: true},
	{sql: "SELECT religion FROM persons p, mystery m", uses: []string{"p=persons", "m=mystery"}, has: []string{"persons.religion@select"}},
	{sql: "SELECT g, p.full_name FROM persons p, generate_series(1, 3) g WHERE p.person_id = 1",
		uses: []string{"p=persons r(person_id=1) p(person_id)"}},
	{sql: "SELECT n FROM persons p, generate_series(1, p.person_id) AS g(n) WHERE n = 2",
		uses: []string{"p=persons p(person_id)"}},
	{sql: "SELECT x FROM (SELECT person_id + 1 FROM persons) s", uses: []string{"persons"}, ambiguous: true},
	{sql: "SELECT p.religion FROM persons p, case_files p", uses: []string{"p=persons", "p=case_files"}, ambiguous: true},
}

// Restrictions that come up from subqueries, WITH queries and VALUES.
var liftCases = []scopeCase{
	{sql: "SELECT l.lat FROM (SELECT person_id FROM persons WHERE person_id = 101) p JOIN location_pings l ON l.person_id = p.person_id WHERE l.lat > 40",
		uses: []string{"persons r(person_id=1) p(person_id)", "l=location_pings r(person_id=1) p(lat,person_id)"}},
	{sql: "WITH s(pid) AS (VALUES (101), (102), (101)) SELECT l.lat FROM location_pings l JOIN s ON l.person_id = s.pid",
		uses: []string{"l=location_pings r(person_id=2) p(person_id)"}},
	{sql: "SELECT l.lat FROM location_pings l JOIN (VALUES (1, 'a'), (l.ping_id, 'b')) v(pid, x) ON l.person_id = v.pid",
		uses: []string{"l=location_pings p(person_id)"}, ambiguous: true}, // VALUES cannot see l: not found
	{sql: "SELECT lat FROM location_pings WHERE person_id IN (SELECT person_id FROM persons WHERE person_id IN (4, 5))",
		uses: []string{"location_pings r(person_id=2) p(person_id)", "persons r(person_id=2) p(person_id)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id IN (SELECT person_id FROM case_files WHERE status = 'open')",
		uses: []string{"location_pings p(person_id)", "case_files r(status=1) p(person_id,status)"}},
	{sql: "SELECT lat FROM location_pings WHERE person_id NOT IN (SELECT person_id FROM persons WHERE person_id = 4)",
		uses: []string{"location_pings p(person_id)", "persons r(person_id=1) p(person_id)"}},
	{sql: "SELECT l.lat FROM location_pings l, (SELECT person_id FROM persons WHERE person_id = 1 UNION SELECT 2) u WHERE u.person_id = l.person_id",
		uses: []string{"l=location_pings r(person_id=2) p(person_id)", "persons r(person_id=1) p(person_id)"}},
	{sql: "WITH p AS (SELECT person_id FROM persons WHERE person_id = 1) SELECT l.lat FROM location_pings l WHERE l.person_id IN (SELECT person_id FROM p) AND l.lat > 40",
		uses: []string{"persons r(person_id=1) p(person_id)", "l=location_pings r(person_id=1) p(lat,person_id)"}},
	{sql: "SELECT l.lat FROM location_pings l WHERE EXISTS (SELECT 1 FROM persons p WHERE p.person_id = l.person_id AND p.person_id IN (1, 2)) AND l.lat > 40",
		uses: []string{"l=location_pings r(person_id=2) p(lat,person_id)", "p=persons r(person_id=2) p(person_id)"}},
	{sql: "SELECT l.lat FROM location_pings l WHERE EXISTS (SELECT count(*) FROM persons p WHERE p.person_id = l.person_id AND p.person_id = 1)",
		uses: []string{"l=location_pings p(person_id)", "p=persons r(person_id=1) p(person_id)"}}, // always one row
	{sql: "SELECT l.lat FROM location_pings l WHERE EXISTS (SELECT 1 FROM persons p WHERE p.person_id = l.person_id AND p.person_id = 1 ORDER BY count(*))",
		uses: []string{"l=location_pings p(person_id)", "p=persons r(person_id=1) p(person_id)"}}, // an aggregate query too
	{sql: "SELECT l.lat FROM location_pings l WHERE EXISTS (SELECT p.person_id FROM persons p WHERE p.person_id = l.person_id AND p.person_id = 1 ORDER BY 1)",
		uses: []string{"l=location_pings r(person_id=1) p(person_id)", "p=persons r(person_id=1) p(person_id)"}},
	{sql: "SELECT l.lat FROM location_pings l WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.person_id = l.person_id AND p.person_id = 1)",
		uses: []string{"l=location_pings p(person_id)", "p=persons r(person_id=1) p(person_id)"}},
	{sql: "SELECT l.lat FROM location_pings l WHERE EXISTS (SELECT 1 FROM persons p WHERE p.person_id = l.person_id OR p.person_id = 1)",
		uses: []string{"l=location_pings p(person_id)", "p=persons p(person_id)"}},
	{sql: "SELECT l.lat FROM location_pings l WHERE l.lat > 40 OR EXISTS (SELECT 1 FROM persons p WHERE p.person_id = l.person_id AND p.person_id = 1)",
		uses: []string{"l=location_pings p(lat,person_id)", "p=persons r(person_id=1) p(person_id)"}},
	{sql: "SELECT l.lat FROM location_pings l, (SELECT person_id FROM persons WHERE person_id = 1 UNION SELECT person_id FROM case_files) u WHERE u.person_id = l.person_id",
		uses: []string{"l=location_pings p(person_id)", "persons r(person_id=1) p(person_id)", "case_files p(person_id)"}},
}

func init() { scopeCases = append(scopeCases, liftCases...) }

// Less common FROM items and statements.
var moreCases = []scopeCase{
	{sql: "SELECT j.x7 FROM (persons p JOIN addresses a USING (address_id)) AS j(x1, x2, x3, x4, x5, x6, x7)",
		uses: []string{"p=persons p(address_id)", "a=addresses p(address_id)"},
		has:  []string{"persons.religion@select"}, hasnt: []string{"persons.immigration_status@select"}},
	{sql: "SELECT j.* FROM (persons JOIN case_files USING (person_id)) j WHERE j.person_id = 3",
		uses: []string{"persons r(person_id=1) p(person_id)", "case_files r(person_id=1) p(person_id)"},
		has:  []string{"persons.ethnicity@select", "case_files.officer@select"}},
	{sql: "SELECT u.person_id FROM persons JOIN case_files USING (person_id) AS u WHERE u.person_id = 8",
		uses: []string{"persons r(person_id=1) p(person_id)", "case_files r(person_id=1) p(person_id)"}},
	{sql: "SELECT lat FROM public.location_pings WHERE person_id = 1",
		uses: []string{"location_pings r(person_id=1) p(person_id)"}, has: []string{"public.location_pings.lat@select"}},
	{sql: "SELECT l.lat FROM other.location_pings l WHERE l.person_id = 1",
		uses: []string{"l=other.location_pings r(person_id=1) p(person_id)"}, hasnt: []string{"other.location_pings.lat@select"}},
	{sql: "SELECT lat FROM location_pings l TABLESAMPLE bernoulli (10) WHERE observed_at > now()",
		uses: []string{"l=location_pings p(observed_at)"}},
	{sql: "SELECT v FROM persons p, LATERAL unnest(ARRAY[p.religion]) AS u(v) WHERE p.person_id = 1",
		uses: []string{"p=persons r(person_id=1) p(person_id,religion)"}, has: []string{"persons.religion@from"}},
	{sql: "SELECT a, b FROM ROWS FROM (generate_series(1, 2), json_to_record('{}') AS (b text)) AS t(a)",
		uses: nil},
	{sql: "SELECT t.x FROM social_posts s, XMLTABLE('/a' PASSING (s.body::xml) COLUMNS x text) t WHERE s.person_id = 2",
		uses: []string{"s=social_posts r(person_id=1) p(body,person_id)"}},
	{sql: "SELECT jt.k FROM social_posts s, JSON_TABLE(s.body::jsonb, '$' COLUMNS (k text PATH '$.k')) jt WHERE jt.k = 'x'",
		uses: []string{"s=social_posts p(body)"}},
	{sql: "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) CYCLE n SET is_cycle USING path SELECT n, is_cycle FROM t",
		uses: nil},
	{sql: "WITH d AS (DELETE FROM case_files WHERE person_id = 4 RETURNING officer) SELECT officer FROM d",
		uses: []string{"case_files r(person_id=1) p(person_id)"}, has: []string{"case_files.officer@returning", "case_files.officer@select"}},
	{sql: "DELETE FROM case_files c USING persons p WHERE c.person_id = p.person_id AND p.religion = 'x'",
		uses: []string{"c=case_files p(person_id)", "p=persons r(religion=1) p(person_id,religion)"}},
	{sql: "INSERT INTO case_files (case_id, person_id) SELECT 'c', person_id FROM persons WHERE person_id = 5 ON CONFLICT (case_id) DO UPDATE SET status = excluded.status",
		uses: []string{"case_files", "persons r(person_id=1) p(person_id)"}, has: []string{"case_files.status@assign", "case_files.case_id@other"}},
	{sql: "MERGE INTO case_files c USING persons p ON c.person_id = p.person_id WHEN MATCHED AND p.ethnicity = 'x' THEN DELETE",
		uses: []string{"c=case_files p(person_id)", "p=persons p(ethnicity,person_id)"}},
	{sql: "SELECT 1 FROM persons a JOIN persons b USING (religion)",
		uses: []string{"a=persons p(religion)", "b=persons p(religion)"}, has: []string{"persons.religion@join"}},
	{sql: "SELECT * FROM persons p WHERE EXISTS (SELECT * FROM persons q WHERE q.person_id = 1 INTERSECT SELECT * FROM persons r)",
		uses: []string{"p=persons", "q=persons r(person_id=1) p(address_id,date_of_birth,ethnicity,full_name,immigration_status,nationality,person_id,phone,religion)",
			"r=persons p(address_id,date_of_birth,ethnicity,full_name,immigration_status,nationality,person_id,phone,religion)"}},
	{sql: "SELECT * FROM persons ORDER BY 7", uses: []string{"persons p(religion)"}, has: []string{"persons.religion@order_by"}},
	{sql: "SELECT count(*) FROM persons GROUP BY ROLLUP (nationality, ethnicity)",
		uses: []string{"persons p(ethnicity,nationality)"}, has: []string{"persons.ethnicity@group_by"}},
	{sql: "SELECT (p.*)::text FROM persons p", uses: []string{"p=persons"}, has: []string{"persons.religion@select"}},
	{sql: "SELECT person_id FROM location_pings WHERE (person_id, lat) IN (SELECT * FROM (VALUES (1, 2.0)) v)",
		uses: []string{"location_pings p(lat,person_id)"}},
	{sql: "SELECT persons.religion FROM persons p", uses: []string{"p=persons"}, ambiguous: true},
	{sql: "WITH c AS (SELECT * FROM persons) SELECT json_agg(c) FROM c", uses: []string{"persons"}, has: []string{"persons.religion@select"}},
	{sql: "SELECT hash_record(p) = 1 FROM persons p WHERE p.person_id = 2", uses: []string{"p=persons r(person_id=1) p(person_id)"}, has: []string{"persons.ethnicity@select"}},
	{sql: "SELECT (SELECT q FROM persons q WHERE q.person_id = p.person_id) FROM persons p",
		uses: []string{"p=persons p(person_id)", "q=persons p(person_id)"}, has: []string{"persons.religion@select"}},
	{sql: "SELECT x.column2 FROM (VALUES (1, (SELECT religion FROM persons LIMIT 1))) x", uses: []string{"persons"}, has: []string{"persons.religion@select"}},
	{sql: "SELECT lat FROM location_pings; SELECT religion FROM persons WHERE person_id = 2",
		uses: []string{"location_pings"}},
}

func init() { scopeCases = append(scopeCases, moreCases...) }
