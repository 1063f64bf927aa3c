package analysis

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// sctx is where an expression stands for the scope pass.
type sctx struct {
	fr     *frame
	lvl    *level // the level the expression belongs to
	clause Clause
	pred   bool // inside a predicate of an outer level
	noRel  bool // RangeVars here name FROM items, not relations
}

func (c sctx) in(cl Clause) sctx { c.clause = cl; return c }

// predicate says whether a column used here decides which rows, groups or
// order the statement returns.
func (c sctx) predicate() bool {
	if c.pred {
		return true
	}
	switch c.clause {
	case ClauseWhere, ClauseJoin, ClauseHaving, ClauseGroupBy, ClauseOrderBy, ClauseWindow, ClauseFrom:
		return true
	}
	return false
}

// scanNode reads the commonest expression nodes by their Go types, which
// is several times faster than reflection; fastNodes (and a test) keep the
// list honest: each reads every field its type has.
func (s *scoper) scanNode(n *pg_query.Node, c sctx) {
	if n == nil || s.over {
		return
	}
	switch x := n.Node.(type) {
	case nil:
	case *pg_query.Node_ColumnRef:
		s.columnRef(x.ColumnRef, c)
	case *pg_query.Node_AConst, *pg_query.Node_ParamRef, *pg_query.Node_String_,
		*pg_query.Node_Integer, *pg_query.Node_Float, *pg_query.Node_Boolean:
	case *pg_query.Node_AExpr:
		s.scanNode(x.AExpr.Lexpr, c) // Name is the operator's
		s.scanNode(x.AExpr.Rexpr, c)
	case *pg_query.Node_BoolExpr:
		s.scanNode(x.BoolExpr.Xpr, c)
		for _, a := range x.BoolExpr.Args {
			s.scanNode(a, c)
		}
	case *pg_query.Node_TypeCast:
		s.scanNode(x.TypeCast.Arg, c) // a type name holds no column
	case *pg_query.Node_NullTest:
		s.scanNode(x.NullTest.Xpr, c)
		s.scanNode(x.NullTest.Arg, c)
	case *pg_query.Node_List:
		for _, a := range x.List.Items {
			s.scanNode(a, c)
		}
	case *pg_query.Node_SubLink:
		s.sublink(x.SubLink, c)
	default:
		s.scanMsg(n.ProtoReflect(), c)
	}
}

// fastNodes are the types scanNode reads by hand, with the message fields
// each has; TestFastNodesComplete fails when pg_query changes them.
var fastNodes = map[string][]string{
	"CaseExpr": {"xpr", "arg", "args", "defresult"},
	"CaseWhen": {"xpr", "expr", "result"},
	"A_Expr":   {"name", "lexpr", "rexpr"},
	"BoolExpr": {"xpr", "args"},
	"TypeCast": {"arg", "type_name"},
	"NullTest": {"xpr", "arg"},
	"List":     {"items"},
}

// scanMsg reads an expression (or anything not read by hand) through
// protobuf reflection, as the walker does, resolving every column
// reference and reading every subquery as a level of its own.
func (s *scoper) scanMsg(m protoreflect.Message, c sctx) {
	if !m.IsValid() || s.over {
		return
	}
	if m.Descriptor() == nodeDesc {
		fd := m.WhichOneof(nodeOneof)
		if fd == nil {
			return
		}
		m = m.Get(fd).Message()
	}
	switch x := m.Interface().(type) {
	case *pg_query.String, *pg_query.Integer, *pg_query.Float, *pg_query.Boolean,
		*pg_query.BitString, *pg_query.A_Star, *pg_query.A_Const, *pg_query.ParamRef, *pg_query.TypeName:
		return
	case *pg_query.ColumnRef:
		s.columnRef(x, c)
		return
	case *pg_query.A_Indirection:
		if s.fieldOfRow(x, c) {
			return
		}
	case *pg_query.SubLink:
		s.sublink(x, c)
		return
	case *pg_query.CaseExpr:
		// A CASE condition picks what a row shows: a place or time
		// condition there is one, whatever clause it is in.
		cond := c
		cond.pred = true
		s.scanNode(x.Xpr, c)
		s.scanNode(x.Arg, cond)
		for _, w := range x.Args {
			if cw := w.GetCaseWhen(); cw != nil {
				s.scanNode(cw.Xpr, c)
				s.scanNode(cw.Expr, cond)
				s.scanNode(cw.Result, c)
			} else {
				s.scanNode(w, cond)
			}
		}
		s.scanNode(x.Defresult, c)
		return
	case *pg_query.SelectStmt:
		lvl := s.newLevel(c.lvl)
		lvl.pred = c.predicate()
		s.query(lvl, x, c.fr)
		return
	case *pg_query.FuncCall:
		if x.Over != nil && c.lvl != nil {
			c.lvl.pushable = false // a window function sees other rows
		}
	case *pg_query.RangeVar:
		if !c.noRel {
			s.ambiguous("relation %s is not read through a FROM clause here", relName(x))
		}
		return
	case *pg_query.JoinExpr, *pg_query.RangeSubselect, *pg_query.RangeFunction,
		*pg_query.RangeTableSample, *pg_query.RangeTableFunc, *pg_query.JsonTable,
		*pg_query.WithClause, *pg_query.CommonTableExpr,
		*pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
		s.ambiguous("%s is not resolved in this place", m.Descriptor().Name())
	}
	p := planOf(m.Descriptor())
	for i := range p.fields {
		f := &p.fields[i]
		if !m.Has(f.fd) {
			continue
		}
		cc := c
		if f.rule.clause != "" {
			cc.clause = f.rule.clause
		}
		if f.rule.noRel {
			cc.noRel = true
		}
		v := m.Get(f.fd)
		if !f.list {
			s.scanValue(v.Message(), cc)
			continue
		}
		l := v.List()
		for j := 0; j < l.Len(); j++ {
			s.scanValue(l.Get(j).Message(), cc)
		}
	}
}

// scanValue reads a field's message, by its Go type when it is a Node.
func (s *scoper) scanValue(m protoreflect.Message, c sctx) {
	if n, ok := m.Interface().(*pg_query.Node); ok {
		s.scanNode(n, c)
		return
	}
	s.scanMsg(m, c)
}

// sublink reads a subquery used as a value: a level whose frames are the
// ones where it stands.
func (s *scoper) sublink(x *pg_query.SubLink, c sctx) {
	s.scanNode(x.Testexpr, c)
	sel := x.Subselect.GetSelectStmt()
	if sel == nil {
		s.ambiguous("a subquery is not a SELECT")
		s.scanNode(x.Subselect, c)
		return
	}
	lvl := s.newLevel(c.lvl)
	lvl.pred = c.predicate()
	// EXISTS ignores its select list, unless a set operation compares it.
	lvl.exists = x.SubLinkType == pg_query.SubLinkType_EXISTS_SUBLINK && sel.Op == pg_query.SetOperation_SETOP_NONE
	if s.sublinks == nil {
		s.sublinks = make(map[*pg_query.SubLink]*level)
	}
	s.sublinks[x] = lvl
	s.query(lvl, sel, c.fr)
}

// refParts splits a column reference into its names; star says it ends
// in *.
func (s *scoper) refParts(cr *pg_query.ColumnRef) (parts []string, star, ok bool) {
	if len(cr.Fields) == 0 {
		return nil, false, false
	}
	// The names are used before the next reference is read: reuse one
	// buffer.
	parts = s.parts[:0]
	defer func() { s.parts = parts[:0] }()
	for i, f := range cr.Fields {
		switch {
		case f.GetString_() != nil:
			parts = append(parts, f.GetString_().Sval)
		case f.GetAStar() != nil && i == len(cr.Fields)-1:
			star = true
		default:
			return nil, false, false
		}
	}
	return parts, star, true
}

func isStar(cr *pg_query.ColumnRef) bool {
	return len(cr.Fields) > 0 && cr.Fields[len(cr.Fields)-1].GetAStar() != nil
}

func (s *scoper) columnRef(cr *pg_query.ColumnRef, c sctx) {
	parts, star, ok := s.refParts(cr)
	if !ok {
		s.ambiguous("a column reference is not understood")
		return
	}
	if star {
		s.star(cr, c, nil, false)
		return
	}
	s.record(s.resolve(c.fr, parts), c)
}

// star expands * and p.*: into outputs of lvl when asOutputs.
func (s *scoper) star(cr *pg_query.ColumnRef, c sctx, lvl *level, asOutputs bool) {
	parts, _, ok := s.refParts(cr)
	if !ok {
		s.ambiguous("a column reference is not understood")
		return
	}
	var items []*item
	if len(parts) == 0 {
		if c.fr != nil {
			items = c.fr.vis
		}
		if len(items) == 0 {
			s.ambiguous("* without a FROM item")
		}
	} else {
		r := s.findQualified(c.fr, parts)
		if r.kind == resNone {
			s.ambiguous("%s.* does not name one FROM item", strings.Join(parts, "."))
			if asOutputs {
				lvl.outsKnown, lvl.posUnknown = false, true
			}
			return
		}
		items = []*item{r.it}
		s.escape(c, r.fr)
	}
	skip := asOutputs && lvl.exists
	for _, it := range items {
		n := it.ncols()
		for i := 0; i < n; i++ {
			if !skip {
				s.emit(it.lineage(i), c)
			}
			if asOutputs {
				o := output{name: it.colName(i), lineage: it.lineage(i)}
				if t := it.colTgt(i); t.it != nil && t.it.lvl == lvl {
					o.inner = t
				}
				lvl.outs = append(lvl.outs, o)
			}
		}
		if !it.known {
			rest := it.unknownLineage()
			if !skip {
				s.emit(rest, c)
			}
			if asOutputs {
				lvl.outsKnown, lvl.posUnknown = false, true
				lvl.unknown = unionSrcs(lvl.unknown, rest)
			}
		}
	}
}

// fieldOfRow reads (p).col, a column of a whole row, as the column.
func (s *scoper) fieldOfRow(x *pg_query.A_Indirection, c sctx) bool {
	cr := x.Arg.GetColumnRef()
	if cr == nil || len(x.Indirection) == 0 || x.Indirection[0].GetString_() == nil {
		return false
	}
	parts, star, ok := s.refParts(cr)
	if !ok || star {
		return false
	}
	r := s.resolve(c.fr, parts)
	if r.kind != resWhole {
		return false
	}
	k, i := r.it.find(x.Indirection[0].GetString_().Sval)
	if k != 1 {
		return false
	}
	s.record(resolution{kind: resField, it: r.it, col: i, fr: r.fr}, c)
	for _, ind := range x.Indirection[1:] {
		s.scanNode(ind, c)
	}
	return true
}

type resKind uint8

const (
	resNone   resKind = iota // not resolved: why says why
	resColumn                // a column of it
	resField                 // a column of it, with a field or subscript taken
	resWhole                 // every column of it
)

type resolution struct {
	kind resKind
	it   *item
	col  int
	fr   *frame
	why  string
}

// record reports a resolved reference.
func (s *scoper) record(r resolution, c sctx) {
	switch r.kind {
	case resColumn, resField:
		s.escape(c, r.fr)
		s.emit(r.it.lineage(r.col), c)
	case resWhole:
		s.escape(c, r.fr)
		s.emit(r.it.allLineage(), c)
	default:
		s.ambiguous("%s", r.why)
	}
}

// escape marks the levels between a reference and the outer level it
// resolved to: their values depend on outer rows.
func (s *scoper) escape(c sctx, fr *frame) {
	if fr == nil || c.lvl == nil {
		return
	}
	for l := c.lvl; l != nil && l != fr.lvl; l = l.parent {
		l.escapes = true
	}
}

// resolve finds what a column reference names, following PostgreSQL:
// a.b is column b of FROM item a, else field b of column a; a bare name is
// a column of exactly one FROM item of the innermost level that has it,
// else a whole row of a FROM item so named. Deny by default: where a FROM
// item whose columns are not known could hold the name, the reference is
// not resolved, unless that item is the only place it can be.
func (s *scoper) resolve(fr *frame, parts []string) resolution {
	s.spend(1)
	if len(parts) == 1 {
		return s.resolveBare(fr, parts[0])
	}
	for k := len(parts) - 1; k >= 1; k-- {
		r := s.findQualified(fr, parts[:k])
		if r.kind == resNone && r.why == "" {
			continue
		}
		if r.kind == resNone {
			return r
		}
		col := parts[k]
		n, i := r.it.find(col)
		switch {
		case n == 1:
			r.kind, r.col = resColumn, i
		case n > 1:
			return resolution{why: "column " + strings.Join(parts[:k+1], ".") + " is ambiguous"}
		case r.it.kind == itemRel && r.it.cat == nil:
			r.kind, r.col = resColumn, r.it.addName(col)
		default:
			// p.to_json is to_json(p): the whole row. An item whose
			// columns are not known is taken whole too.
			r.kind = resWhole
		}
		if k < len(parts)-1 && r.kind == resColumn {
			r.kind = resField
		}
		return r
	}
	// No FROM item so named: a column whose fields are taken.
	r := s.resolveBare(fr, parts[0])
	switch r.kind {
	case resColumn:
		r.kind = resField
	case resNone:
		r.why = strings.Join(parts, ".") + " names no FROM item or column here: " + r.why
	}
	return r
}

func (s *scoper) resolveBare(fr *frame, name string) resolution {
	inner := 0 // items of unknown columns in frames nearer the reference
	var unk *item
	var unkFrame *frame
	for f := fr; f != nil; f = f.up {
		hits, here := 0, 0
		var hit *item
		col := -1
		for _, it := range f.vis {
			n, i := it.find(name)
			if n > 0 && hits == 0 {
				hit, col = it, i
			}
			hits += n
			if !it.known {
				here++
				unk, unkFrame = it, f
			}
		}
		switch {
		case hits == 1 && inner == 0:
			// An item of unknown columns in the same frame cannot hold
			// the name too: PostgreSQL would refuse it as ambiguous.
			return resolution{kind: resColumn, it: hit, col: col, fr: f}
		case hits == 1:
			return resolution{why: "column " + quote(name) + " may belong to a FROM item whose columns are not known"}
		case hits > 1:
			return resolution{why: "column " + quote(name) + " is ambiguous"}
		}
		inner += here
	}
	switch {
	case inner == 1:
		if w := s.findQualified(fr, []string{name}); w.kind != resNone && w.it != unk {
			return resolution{why: quote(name) + " may be a column of " + itemLabel(unk) + " or the row of " + itemLabel(w.it)}
		}
		return s.dynamic(unk, name, unkFrame)
	case inner > 1:
		return resolution{why: "column " + quote(name) + " may belong to any of several FROM items whose columns are not known"}
	}
	// Not a column anywhere: the whole row of a FROM item so named.
	w := s.findQualified(fr, []string{name})
	if w.kind != resNone {
		w.kind = resWhole
		return w
	}
	if w.why != "" {
		return w
	}
	return resolution{why: "column " + quote(name) + " is not found"}
}

// dynamic resolves name to the one item of unknown columns it can belong
// to: a relation the catalog does not know takes it as a column; anything
// else is taken whole.
func (s *scoper) dynamic(it *item, name string, f *frame) resolution {
	if it.kind == itemJoin {
		var rels []*item
		it.unknownLeaves(&rels)
		if len(rels) != 1 {
			return resolution{why: "column " + quote(name) + " may belong to any of several FROM items whose columns are not known"}
		}
		it = rels[0]
	}
	if it.kind == itemRel && it.cat == nil {
		return resolution{kind: resColumn, it: it, col: it.addName(name), fr: f}
	}
	return resolution{kind: resWhole, it: it, fr: f}
}

// findQualified finds the FROM item named by qual (alias, relation, or
// schema and relation), innermost level first. A resolution of kind
// resNone with a reason means the name is ambiguous; without one, that no
// item has it.
func (s *scoper) findQualified(fr *frame, qual []string) resolution {
	for f := fr; f != nil; f = f.up {
		var found *item
		n := 0
		for _, it := range f.vis {
			n += matchItems(it, qual, &found)
		}
		if n == 1 {
			return resolution{kind: resColumn, it: found, fr: f}
		}
		if n > 1 {
			return resolution{why: "FROM item name " + strings.Join(qual, ".") + " is ambiguous"}
		}
	}
	return resolution{}
}

func matchItems(it *item, qual []string, found **item) int {
	n := 0
	if it.matches(qual) {
		*found = it
		n++
	}
	if it.kind == itemJoin {
		if it.usingItem != nil && it.usingItem.matches(qual) {
			*found = it.usingItem
			n++
		}
		if !it.aliased {
			n += matchItems(it.left, qual, found)
			n += matchItems(it.right, qual, found)
		}
	}
	return n
}

func (it *item) matches(qual []string) bool {
	switch len(qual) {
	case 1:
		return it.name != "" && it.name == qual[0]
	case 2, 3:
		if it.kind != itemRel || it.aliased {
			return false
		}
		r := it.rel
		return r.Name == qual[len(qual)-1] && (r.Schema == qual[len(qual)-2] || r.Schema == "")
	}
	return false
}

// plainTarget is the leaf column a plain column reference names, for
// restrictions.
func (s *scoper) plainTarget(n *pg_query.Node, fr *frame) (tgt, bool) {
	cr := n.GetColumnRef()
	if cr == nil {
		return tgt{}, false
	}
	parts, star, ok := s.refParts(cr)
	if !ok || star {
		return tgt{}, false
	}
	r := s.resolve(fr, parts)
	if r.kind != resColumn {
		return tgt{}, false
	}
	t := r.it.colTgt(r.col)
	return t, t.it != nil
}

// Item columns. A relation's are its (renamed) catalog columns; the others
// keep icols.

func (it *item) ncols() int {
	if it.kind == itemRel {
		return len(it.names)
	}
	return len(it.cols)
}

func (it *item) colName(i int) string {
	if it.kind == itemRel {
		return it.names[i]
	}
	return it.cols[i].name
}

// find counts the columns named name and gives the first.
func (it *item) find(name string) (n, first int) {
	first = -1
	if it.kind == itemRel {
		for i, c := range it.names {
			if c == name {
				if n == 0 {
					first = i
				}
				n++
			}
		}
		return n, first
	}
	for i := range it.cols {
		if it.cols[i].name == name {
			if n == 0 {
				first = i
			}
			n++
		}
	}
	return n, first
}

// addName gives a relation the catalog does not know a column it was
// referenced by.
func (it *item) addName(name string) int {
	if n, i := it.find(name); n > 0 {
		return i
	}
	if it.cat == nil && len(it.names) == cap(it.names) && it.renamed == 0 {
		it.names = append(make([]string, 0, 4+len(it.names)), it.names...)
	}
	it.names = append(it.names, name)
	return len(it.names) - 1
}

// realName is a relation's real column i, "*" where it cannot be known.
func (it *item) realName(i int) string {
	switch {
	case it.cat != nil && i < len(it.cat):
		return it.cat[i]
	case it.cat == nil && i >= it.renamed && i < len(it.names):
		return it.names[i]
	}
	return "*"
}

func (it *item) lineage(i int) []src {
	if it.kind != itemRel {
		return it.cols[i].lineage
	}
	if len(it.srcs) < len(it.names) {
		srcs := make([]src, len(it.names))
		for j := range srcs {
			srcs[j] = src{use: it.use, col: it.realName(j)}
		}
		it.srcs = srcs
	}
	return it.srcs[i : i+1 : i+1]
}

func (it *item) colTgt(i int) tgt {
	switch it.kind {
	case itemRel, itemDerived, itemFunc:
		return tgt{it, i}
	case itemJoin, itemOutputs:
		return it.cols[i].t
	}
	return tgt{}
}

// allLineage is every real column the item can show: for a whole-row
// reference.
func (it *item) allLineage() []src {
	switch it.kind {
	case itemRel:
		if it.cat == nil {
			return []src{{use: it.use, col: "*"}}
		}
		if len(it.names) > 0 {
			it.lineage(0)
		}
		return it.srcs[:len(it.cat):len(it.cat)]
	case itemFunc:
		return it.all
	case itemJoin:
		return unionSrcs(it.left.allLineage(), it.right.allLineage())
	}
	var all []src
	for _, c := range it.cols {
		all = unionSrcs(all, c.lineage)
	}
	if it.sub != nil {
		all = unionSrcs(all, it.sub.unknown)
	}
	return all
}

// unknownLineage is what the item may show beyond its known columns.
func (it *item) unknownLineage() []src {
	switch it.kind {
	case itemRel:
		if it.cat == nil {
			return []src{{use: it.use, col: "*"}}
		}
		return nil
	case itemJoin:
		return unionSrcs(it.left.unknownLineage(), it.right.unknownLineage())
	case itemDerived:
		if it.sub != nil {
			return it.sub.unknown
		}
	}
	return it.all
}

func (it *item) unknownLeaves(out *[]*item) {
	switch {
	case it.kind == itemJoin:
		it.left.unknownLeaves(out)
		it.right.unknownLeaves(out)
	case !it.known:
		*out = append(*out, it)
	}
}

func itemLabel(it *item) string {
	if it.name != "" {
		return it.name
	}
	return "an unnamed FROM item"
}

func quote(s string) string { return `"` + s + `"` }

// unionSrcs merges two lineages without repeats. The result may share a's
// backing array only when b adds nothing.
func unionSrcs(a, b []src) []src {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	var out []src
	for _, x := range b {
		if !containsSrc(a, x) && !containsSrc(out, x) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return a
	}
	return append(append(make([]src, 0, len(a)+len(out)), a...), out...)
}

func containsSrc(list []src, x src) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}
