package analysis

import (
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Catalog tells the analyser the columns of the relations it knows (the
// registered datasets). Columns returns them in attribute order, or nil for
// a relation it does not know; schema is "" when the statement leaves the
// name unqualified, and the catalog decides what that resolves to. Columns
// must be safe for concurrent use when AnalyzeWith is called concurrently,
// and the returned slice must not change afterwards (it is read, not copied).
type Catalog interface {
	Columns(schema, name string) []string
}

// RelationUse is one occurrence of a relation in a statement: each FROM or
// JOIN item naming it at any query level, and the target of UPDATE, DELETE,
// INSERT and MERGE and the table of COPY.
type RelationUse struct {
	Relation Relation
	// Alias is the name the occurrence goes by: its alias, or the
	// relation's name.
	Alias string
	// Restricted maps the columns (real names) that the statement limits
	// to a bounded set of values for this occurrence to an upper bound on
	// the number of those values, or -1 when the bound is not known from
	// the text (a parameter array). A column absent from the map is not
	// restricted. See "Restrictions" in the package documentation.
	Restricted map[string]int
	// Predicated lists, once each and by real name, the columns of this
	// occurrence whose values decide which rows, groups or order the
	// statement returns: used in WHERE, JOIN ON/USING/NATURAL, HAVING,
	// FILTER, GROUP BY, DISTINCT ON, ORDER BY, window clauses, FROM
	// function arguments, CASE conditions, the outputs of INTERSECT and
	// EXCEPT, or anywhere inside a subquery that is itself in such a
	// place, directly or through the columns of a WITH query or subquery
	// in FROM. "*" stands for every column of a relation the catalog does
	// not know.
	Predicated []string
}

// ResolvedColumn is a column of a cataloged relation that a statement uses,
// by its real name (after alias lists), with the clause of the reference.
type ResolvedColumn struct {
	Relation Relation
	Column   string
	Clause   Clause
}

// AnalyzeWith is Analyze plus the facts that need to know the columns of
// relations: Statement.Uses, ResolvedColumns and Ambiguous. Everything else
// is exactly what Analyze returns. A nil catalog knows no relation.
func AnalyzeWith(sql string, cat Catalog) ([]*Statement, error) {
	return analyze(sql, cat, true)
}

// resolveScopes runs the scope pass over one statement and records its
// facts in st.
func resolveScopes(st *Statement, stmt *pg_query.Node, cat Catalog) {
	s := &scoper{st: st, cat: cat}
	s.root = &s.rootLevel
	s.colls, s.free = s.collsBuf[:0], s.freeBuf[:0]
	s.parts, s.members = s.partsBuf[:0], s.membersBuf[:0]
	s.stmt(stmt, nil, s.root, false)
	if !s.over {
		s.lift(s.root)
		s.solve(s.root)
	}
	for i := range s.uses {
		st.Uses[i].Predicated = s.uses[i].pred
	}
}

// scoper is the scope pass over one statement.
//
// It reads the statement's query structure by hand (query levels, FROM
// items, WITH queries, set operations) and every expression by the same
// protobuf reflection as the walker, so that a column reference anywhere is
// resolved. Each SELECT (and each data-modifying statement) is a level;
// FROM items are items; a column reference is resolved against the frames
// of items visible where it stands, innermost first.
type scoper struct {
	st   *Statement
	cat  Catalog
	root *level
	uses []useState // parallel to st.Uses

	resolvedSet dedup[ResolvedColumn]
	ambSet      dedup[string]

	colls    []*collector // lineage being collected (select-list entries, FROM functions)
	free     []*collector // collectors to reuse
	parts    []string     // refParts' buffer
	members  []member     // solveLeaf's buffer
	sublinks map[*pg_query.SubLink]*level
	ctes     *cteScope2

	work int  // units of work done, against workBudget
	over bool // the budget ran out: nothing more is resolved

	// Storage for the common case, to spare allocations.
	rootLevel  level
	collsBuf   [4]*collector
	freeBuf    [4]*collector
	partsBuf   [4]string
	membersBuf [8]member
}

// workBudget bounds the scope pass on pathological statements; past it the
// statement is ambiguous, not slowly analysed.
const workBudget = 1 << 20

type useState struct {
	pred    []string
	predSet dedup[string]
	known   bool
}

// level is one query level: a SELECT, a VALUES, a set operation, a WITH
// query's body, a data-modifying statement.
type level struct {
	parent   *level
	children []*level // solved after this level, in order
	ctes     []*level // WITH queries of this level, solved after children, last first

	leaves []*item // relation, subquery and function items, in FROM order
	facts  []fact

	outs       []output // output columns
	outsKnown  bool     // outs is complete and every name is certain
	posUnknown bool     // a * over an item of unknown columns: positions after it are not known
	unknown    []src    // lineage of outputs that could not be listed

	pred     bool // the level stands inside a predicate of an outer level
	setop    bool
	branches []*level
	// pushable: a restriction of an output column may be applied to the
	// rows of this level (no LIMIT, window, DISTINCT ON, recursion, write).
	pushable bool
	exists   bool // the level is an EXISTS subquery: its select list is not output
	plain    bool // a SELECT that yields no row its WHERE rejects: no grouping, aggregate, set operation
	escapes  bool // some reference inside escapes to an outer level
	cte      *cteInfo

	fr frame // the frame of its FROM items, for from
}

// output is one output column of a level.
type output struct {
	name    string
	lineage []src
	inner   tgt // set when the output is a plain column of one of the level's own leaves
	values  int // VALUES whose rows all hold constants here: how many distinct
}

// src is one real column of one relation use.
type src struct {
	use int
	col string
}

// tgt is a column of a leaf item, by position.
type tgt struct {
	it  *item
	col int
}

type itemKind uint8

const (
	itemRel     itemKind = iota // a relation
	itemDerived                 // a subquery in FROM or a WITH query reference
	itemFunc                    // a function, XMLTABLE, JSON_TABLE in FROM
	itemJoin                    // a JOIN
	itemOutputs                 // the output columns of a set operation, for its ORDER BY
	itemValues                  // INSERT's "excluded": values, not stored data
)

// item is one FROM item.
type item struct {
	kind itemKind
	name string // reference name: alias, relation, CTE or function name; "" if none
	lvl  *level
	lo   int // leaves lo..hi-1 of lvl are this item's
	hi   int

	// itemRel
	rel     Relation
	use     int
	cat     []string // catalog columns; nil if the relation is not known
	names   []string // exposed names: cat with alias renames, or names seen so far if unknown
	renamed int      // how many leading names an alias list gave
	aliased bool     // named by an alias, not by the relation's name
	srcs    []src    // lineage of each column, made on first use

	// other kinds
	cols  []icol
	known bool // the exposed columns are complete and certain
	all   []src
	sub   *level // itemDerived
	cte   *cteInfo

	// itemJoin (aliased: a JOIN alias hides the inner names)
	left, right *item
	usingItem   *item // JOIN ... USING (...) AS name
	merged      int   // the first merged columns of cols are USING's

	restr []int // solved restrictions per column, see restr.go
}

// icol is an exposed column of an item other than a relation.
type icol struct {
	name    string
	lineage []src
	t       tgt
}

// frame is a set of items visible where a reference stands; up leads to
// outer query levels.
type frame struct {
	lvl *level
	vis []*item
	up  *frame
}

// collector gathers the lineage of an output column.
type collector struct {
	srcs []src
	set  dedup[src]
}

// cteInfo follows the references to one WITH query, for pushing
// restrictions into it.
type cteInfo struct {
	name      string
	colnames  []string
	extra     []string // SEARCH and CYCLE columns
	recursive bool
	refs      int
	acc       map[int]pushAcc
}

type pushAcc struct{ refs, sum int }

type cteScope2 struct {
	entries []*level
	parent  *cteScope2
}

func (c *cteScope2) find(name string) *level {
	for ; c != nil; c = c.parent {
		for _, l := range c.entries {
			if l != nil && l.cte.name == name {
				return l
			}
		}
	}
	return nil
}

func (s *scoper) newLevel(parent *level) *level {
	l := &level{parent: parent, pushable: true, outsKnown: true}
	if parent != nil {
		l.pred = parent.pred
		parent.children = append(parent.children, l)
	}
	return l
}

// ambiguous records why something could not be resolved.
func (s *scoper) ambiguous(format string, args ...any) {
	if len(s.st.Ambiguous) >= 64 {
		return // enough to deny; keep the Statement small
	}
	s.ambSet.add(&s.st.Ambiguous, fmt.Sprintf(format, args...))
}

// spend counts work and reports whether the budget still holds.
func (s *scoper) spend(n int) bool {
	if s.over {
		return false
	}
	s.work += n
	if s.work > workBudget {
		s.over = true
		s.ambiguous("the statement is too complex to resolve")
		return false
	}
	return true
}

// newUse records an occurrence of a relation.
func (s *scoper) newUse(r Relation, alias string) (int, []string) {
	var cols []string
	if s.cat != nil {
		cols = s.cat.Columns(r.Schema, r.Name)
	}
	if s.st.Uses == nil {
		s.st.Uses = make([]RelationUse, 0, 4)
		s.uses = make([]useState, 0, 4)
	}
	s.st.Uses = append(s.st.Uses, RelationUse{Relation: r, Alias: alias})
	s.uses = append(s.uses, useState{known: cols != nil})
	return len(s.st.Uses) - 1, cols
}

// emit records the use of the real columns srcs in clause c: as resolved
// columns, as predicated ones when the place decides the rows, and as
// lineage of the outputs being collected.
func (s *scoper) emit(srcs []src, c sctx) {
	if len(srcs) == 0 || !s.spend(len(srcs)*(1+len(s.colls))) {
		return
	}
	pred := c.predicate()
	for _, x := range srcs {
		u := &s.uses[x.use]
		if pred {
			u.predSet.add(&u.pred, x.col)
		}
		if u.known && x.col != "*" {
			if s.st.ResolvedColumns == nil {
				s.st.ResolvedColumns = make([]ResolvedColumn, 0, 8)
			}
			s.resolvedSet.add(&s.st.ResolvedColumns, ResolvedColumn{Relation: s.st.Uses[x.use].Relation, Column: x.col, Clause: c.clause})
		}
		for _, col := range s.colls {
			col.set.add(&col.srcs, x)
		}
	}
}

// pushCollector starts collecting lineage; the collector's srcs stay the
// caller's, the collector itself is reused after popCollector.
// predicated marks columns as deciding which rows are returned.
func (s *scoper) predicated(srcs []src) {
	for _, x := range srcs {
		u := &s.uses[x.use]
		u.predSet.add(&u.pred, x.col)
	}
}

func (s *scoper) pushCollector() *collector {
	var c *collector
	if n := len(s.free); n > 0 {
		c, s.free = s.free[n-1], s.free[:n-1]
		*c = collector{}
	} else {
		c = &collector{}
	}
	s.colls = append(s.colls, c)
	return c
}

func (s *scoper) popCollector() {
	c := s.colls[len(s.colls)-1]
	s.colls = s.colls[:len(s.colls)-1]
	s.free = append(s.free, c)
}
