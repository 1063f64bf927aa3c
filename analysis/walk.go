package analysis

import (
	"fmt"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The walker visits every message of a statement's parse tree through
// protobuf reflection, so no field of any node type can be skipped by
// oversight. Hooks for the node types that carry facts (RangeVar, FuncCall,
// ColumnRef, ...) run on the way; a plan per node type (plan.go) sets the
// context their children are seen in.

// ctx is what a node's position in the tree tells about it.
type ctx struct {
	clause  Clause
	from    bool // a FROM item: an unqualified name may be a WITH query
	resList bool // an entry of a select list or RETURNING list
	target  bool // the whole value of such an entry: a star expands to columns
	assign  bool // a ResTarget naming a column written
	noRel   bool // RangeVars name FROM items, not relations (FOR UPDATE OF p)
}

// cteScope is one WITH list's names visible at a point of the tree.
type cteScope struct {
	names  []string
	parent *cteScope
}

func (s *cteScope) visible(name string) bool {
	for ; s != nil; s = s.parent {
		for _, n := range s.names {
			if n == name {
				return true
			}
		}
	}
	return false
}

type walker struct {
	st    *Statement
	scope *cteScope

	sawDML bool

	// rangeNames are all names a FROM item or WITH query goes by; bare
	// holds single-name column references, which PostgreSQL reads as the
	// whole row when they name a FROM item. Both are compared at the end,
	// as a FROM clause follows the select list that uses it.
	rangeNames []string
	bare       []string

	rangeSet dedup[string]
	relSet   dedup[Relation]
	fnSet    dedup[string]
	colSet   dedup[ColumnRef]
	hazSet   dedup[Hazard]
}

// dedup keeps a list free of repeats: small lists are scanned, and a set
// takes over once a list grows, so that a huge statement stays linear.
type dedup[T comparable] struct{ set map[T]struct{} }

func (d *dedup[T]) add(list *[]T, v T) {
	if d.set == nil {
		if len(*list) < 16 {
			if !slices.Contains(*list, v) {
				*list = append(*list, v)
			}
			return
		}
		d.set = make(map[T]struct{}, 2*len(*list))
		for _, x := range *list {
			d.set[x] = struct{}{}
		}
	}
	if _, ok := d.set[v]; !ok {
		d.set[v] = struct{}{}
		*list = append(*list, v)
	}
}

func (d *dedup[T]) contains(list []T, v T) bool {
	if d.set == nil {
		return slices.Contains(list, v)
	}
	_, ok := d.set[v]
	return ok
}

func newWalker(st *Statement) *walker {
	return &walker{st: st}
}

var (
	nodeDesc  = (&pg_query.Node{}).ProtoReflect().Descriptor()
	nodeOneof = nodeDesc.Oneofs().ByName("node")
)

func (w *walker) walkTop(raw *pg_query.RawStmt) {
	if raw.GetStmt() == nil {
		return // classify reports it
	}
	w.msg(raw.GetStmt().ProtoReflect(), ctx{clause: ClauseOther})
}

// finish settles the facts that need the whole tree.
func (w *walker) finish() {
	for _, name := range w.bare {
		if w.rangeSet.contains(w.rangeNames, name) {
			w.st.WholeRow = true
			break
		}
	}
	if len(w.st.Unjudged) > 0 {
		// So that a caller looking only at Class fails closed as well.
		w.st.Class = ClassUnknown
	}
}

func (w *walker) msg(m protoreflect.Message, c ctx) {
	if !m.IsValid() {
		return // a NULL pointer in the C tree
	}
	if len(m.GetUnknown()) > 0 {
		// Fields the C parser emitted that these Go types do not know:
		// a version mismatch that could hide anything.
		w.unjudged("unknown fields in a %s node", m.Descriptor().Name())
	}
	if m.Descriptor() == nodeDesc {
		fd := m.WhichOneof(nodeOneof)
		if fd == nil {
			return
		}
		m = m.Get(fd).Message()
		if len(m.GetUnknown()) > 0 {
			w.unjudged("unknown fields in a %s node", m.Descriptor().Name())
		}
	}
	p := planOf(m.Descriptor())
	if !p.known {
		w.unjudged("node type %s is not understood", m.Descriptor().Name())
	}

	switch x := m.Interface().(type) {
	case *pg_query.String, *pg_query.Integer, *pg_query.Float, *pg_query.Boolean,
		*pg_query.BitString, *pg_query.A_Star, *pg_query.A_Const, *pg_query.ParamRef:
		return // leaves
	case *pg_query.SelectStmt:
		if x.WithClause != nil {
			w.withScope(m, x.WithClause, c)
			return
		}
	case *pg_query.InsertStmt:
		w.dml("INSERT", x.Relation)
		if x.WithClause != nil {
			w.withScope(m, x.WithClause, c)
			return
		}
	case *pg_query.UpdateStmt:
		w.dml("UPDATE", x.Relation)
		if x.WithClause != nil {
			w.withScope(m, x.WithClause, c)
			return
		}
	case *pg_query.DeleteStmt:
		w.dml("DELETE", x.Relation)
		if x.WithClause != nil {
			w.withScope(m, x.WithClause, c)
			return
		}
	case *pg_query.MergeStmt:
		w.dml("MERGE", x.Relation)
		if x.WithClause != nil {
			w.withScope(m, x.WithClause, c)
			return
		}
	case *pg_query.RangeVar:
		w.rangeVar(x, c)
	case *pg_query.Alias:
		w.addRangeName(x.Aliasname)
	case *pg_query.CommonTableExpr:
		w.addRangeName(x.Ctename)
	case *pg_query.JoinExpr:
		w.joinExpr(x)
	case *pg_query.FuncCall:
		w.funcCall(x)
	case *pg_query.ColumnRef:
		w.columnRef(x, c)
	case *pg_query.ResTarget:
		if c.assign && x.Name != "" {
			w.addColumn(ColumnRef{Name: x.Name, Clause: ClauseAssign})
		}
	case *pg_query.IndexElem:
		if x.Name != "" {
			w.addColumn(ColumnRef{Name: x.Name, Clause: c.clause})
		}
	case *pg_query.RangeTableSample:
		// The method is a function (a tablesample handler).
		if name, _, ok := w.dottedName(x.Method, "TABLESAMPLE method"); ok {
			w.addFunction(name)
		}
	case *pg_query.CopyStmt:
		w.copyColumns(x)
	case *pg_query.IntoClause:
		w.st.Into = true
		w.addHazard(HazardSelectInto, relName(x.Rel))
	case *pg_query.LockingClause:
		w.addHazard(HazardLock, lockStrength(x.Strength))
	case *pg_query.ExecuteStmt:
		w.st.Prepared = &Prepare{Name: x.Name, Execute: true}
	}
	w.fields(m, p, c, false)
}

// fields walks every message-valued field of m that is set, except a WITH
// clause when the caller has walked it. Has comes before Get, which would
// allocate for an empty list.
func (w *walker) fields(m protoreflect.Message, p *plan, c ctx, skipWith bool) {
	for i := range p.fields {
		f := &p.fields[i]
		if (skipWith && f.with) || !m.Has(f.fd) {
			continue
		}
		cc := f.rule.apply(c)
		v := m.Get(f.fd)
		if !f.list {
			w.msg(v.Message(), cc)
			continue
		}
		l := v.List()
		for j := 0; j < l.Len(); j++ {
			w.msg(l.Get(j).Message(), cc)
		}
	}
}

// withScope walks a statement that has a WITH clause. A non-recursive WITH
// query sees the ones before it; with RECURSIVE each sees all; the rest of
// the statement sees all. A name not visible resolves to a table, as in
// PostgreSQL: WITH persons AS (SELECT * FROM persons) reads the table.
func (w *walker) withScope(m protoreflect.Message, wc *pg_query.WithClause, c ctx) {
	w.msgChecked(wc.ProtoReflect())
	names := make([]string, len(wc.Ctes))
	for i, n := range wc.Ctes {
		cte := n.GetCommonTableExpr()
		if cte == nil {
			w.unjudged("WITH list entry is not a WITH query")
			continue
		}
		names[i] = cte.Ctename
	}
	s := &cteScope{parent: w.scope}
	w.scope = s
	for i, n := range wc.Ctes {
		if wc.Recursive {
			s.names = names
		} else {
			s.names = names[:i]
		}
		w.msg(n.ProtoReflect(), ctx{clause: c.clause})
	}
	s.names = names
	w.fields(m, planOf(m.Descriptor()), c, true)
	w.scope = s.parent
}

// msgChecked applies the checks of msg to a node walked by hand.
func (w *walker) msgChecked(m protoreflect.Message) {
	if len(m.GetUnknown()) > 0 {
		w.unjudged("unknown fields in a %s node", m.Descriptor().Name())
	}
	if !planOf(m.Descriptor()).known {
		w.unjudged("node type %s is not understood", m.Descriptor().Name())
	}
}

func (w *walker) dml(verb string, rel *pg_query.RangeVar) {
	w.sawDML = true
	w.addHazard(HazardWrite, verb+" "+relName(rel))
}

func (w *walker) rangeVar(rv *pg_query.RangeVar, c ctx) {
	w.addRangeName(rv.Relname)
	if c.noRel {
		return
	}
	if c.from && rv.Schemaname == "" && rv.Catalogname == "" && w.scope.visible(rv.Relname) {
		return // a WITH query, whose own body is walked where it is defined
	}
	r := Relation{Schema: rv.Schemaname, Name: rv.Relname}
	w.addRelation(r)
	if rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
		// FROM persons AS p(a, b, r) renames the table's columns: r may be
		// a protected column under another name.
		w.addColumn(ColumnRef{Qualifier: rv.Alias.Aliasname, Name: "*", Clause: ClauseFrom})
	}
	if kind, ok := relationHazards[lower(rv.Relname)]; ok {
		w.addHazard(kind, r.String())
	}
}

func (w *walker) joinExpr(j *pg_query.JoinExpr) {
	if j.IsNatural {
		// NATURAL joins on every column the two sides share.
		w.addColumn(ColumnRef{Name: "*", Clause: ClauseJoin})
	}
	for _, n := range j.UsingClause {
		if s := n.GetString_(); s != nil {
			w.addColumn(ColumnRef{Name: s.Sval, Clause: ClauseJoin})
		} else {
			w.unjudged("JOIN USING entry is not a name")
		}
	}
	if j.Alias != nil && len(j.Alias.Colnames) > 0 {
		w.addColumn(ColumnRef{Qualifier: j.Alias.Aliasname, Name: "*", Clause: ClauseFrom})
	}
}

func (w *walker) funcCall(fc *pg_query.FuncCall) {
	name, last, ok := w.dottedName(fc.Funcname, "function name")
	if !ok {
		return
	}
	w.addFunction(name)
	w.functionHazards(name, lower(last), fc)
}

func (w *walker) columnRef(cr *pg_query.ColumnRef, c ctx) {
	if len(cr.Fields) == 0 {
		w.unjudged("empty column reference")
		return
	}
	parts := make([]string, 0, len(cr.Fields))
	star := false
	for i, f := range cr.Fields {
		switch {
		case f.GetString_() != nil:
			parts = append(parts, f.GetString_().Sval)
		case f.GetAStar() != nil && i == len(cr.Fields)-1:
			star = true
		default:
			w.unjudged("column reference part is not understood")
			return
		}
	}
	if star {
		w.addColumn(ColumnRef{Qualifier: strings.Join(parts, "."), Name: "*", Clause: c.clause})
		if !c.target {
			// p.* anywhere but as a select-list entry is the row as one value.
			w.st.WholeRow = true
		}
		return
	}
	name := parts[len(parts)-1]
	w.addColumn(ColumnRef{Qualifier: strings.Join(parts[:len(parts)-1], "."), Name: name, Clause: c.clause})
	switch {
	case len(parts) == 1:
		w.bare = append(w.bare, name)
	case rowFunctions[lower(name)]:
		// p.to_json is to_json(p) when p has no such column.
		w.addFunction(name)
		w.st.WholeRow = true
	}
}

func (w *walker) copyColumns(cs *pg_query.CopyStmt) {
	for _, n := range cs.Attlist {
		if s := n.GetString_(); s != nil {
			w.addColumn(ColumnRef{Name: s.Sval, Clause: ClauseSelect})
		} else {
			w.unjudged("COPY column list entry is not a name")
		}
	}
	if cs.Relation != nil && len(cs.Attlist) == 0 {
		w.addColumn(ColumnRef{Qualifier: relName(cs.Relation), Name: "*", Clause: ClauseSelect})
	}
}

// dottedName joins a list of String nodes, as function names are given.
func (w *walker) dottedName(list []*pg_query.Node, what string) (name, last string, ok bool) {
	if len(list) == 0 {
		w.unjudged("empty %s", what)
		return "", "", false
	}
	for i, n := range list {
		s := n.GetString_()
		if s == nil {
			w.unjudged("%s part is not a name", what)
			return "", "", false
		}
		if i > 0 {
			name += "."
		}
		name += s.Sval
		last = s.Sval
	}
	return name, last, true
}

func (w *walker) addRangeName(name string) {
	if name != "" {
		w.rangeSet.add(&w.rangeNames, name)
	}
}

func (w *walker) addRelation(r Relation)  { w.relSet.add(&w.st.Relations, r) }
func (w *walker) addFunction(name string) { w.fnSet.add(&w.st.Functions, name) }
func (w *walker) addColumn(col ColumnRef) { w.colSet.add(&w.st.Columns, col) }
func (w *walker) addHazard(kind, detail string) {
	w.hazSet.add(&w.st.Hazards, Hazard{Kind: kind, Detail: detail})
}

func (w *walker) unjudged(format string, args ...any) {
	reason := fmt.Sprintf(format, args...)
	for _, r := range w.st.Unjudged {
		if r == reason {
			return
		}
	}
	w.st.Unjudged = append(w.st.Unjudged, reason)
}

func relName(rv *pg_query.RangeVar) string {
	if rv == nil {
		return ""
	}
	return Relation{Schema: rv.Schemaname, Name: rv.Relname}.String()
}

func lockStrength(s pg_query.LockClauseStrength) string {
	switch s {
	case pg_query.LockClauseStrength_LCS_FORKEYSHARE:
		return "FOR KEY SHARE"
	case pg_query.LockClauseStrength_LCS_FORSHARE:
		return "FOR SHARE"
	case pg_query.LockClauseStrength_LCS_FORNOKEYUPDATE:
		return "FOR NO KEY UPDATE"
	case pg_query.LockClauseStrength_LCS_FORUPDATE:
		return "FOR UPDATE"
	}
	return "FOR " + s.String()
}

// lower folds ASCII upper case, allocating only when there is some.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
