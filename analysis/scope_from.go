package analysis

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// from reads a FROM list into lvl and returns the frame its items make.
// LATERAL items and functions see the items before them.
func (s *scoper) from(lvl *level, list []*pg_query.Node, up *frame) *frame {
	var avail []*item
	for _, n := range list {
		avail = append(avail, s.fromItem(lvl, n, up, &avail))
	}
	if lvl.fr.lvl != nil {
		return &frame{lvl: lvl, vis: avail, up: up} // a second FROM of one level (UPDATE)
	}
	lvl.fr = frame{lvl: lvl, vis: avail, up: up}
	return &lvl.fr
}

// lateral is the frame a LATERAL item sees: the items before it.
func lateral(lvl *level, avail []*item, up *frame) *frame {
	return &frame{lvl: lvl, vis: avail[:len(avail):len(avail)], up: up}
}

func (s *scoper) fromItem(lvl *level, n *pg_query.Node, up *frame, avail *[]*item) *item {
	s.spend(1)
	switch x := n.GetNode().(type) {
	case *pg_query.Node_RangeVar:
		return s.relItem(lvl, x.RangeVar, true)
	case *pg_query.Node_RangeSubselect:
		rs := x.RangeSubselect
		bodyUp := up
		if rs.Lateral {
			bodyUp = lateral(lvl, *avail, up)
		}
		sub := s.newLevel(lvl)
		if sel := rs.Subquery.GetSelectStmt(); sel != nil {
			s.query(sub, sel, bodyUp)
		} else {
			s.ambiguous("a subquery in FROM is not a SELECT")
			s.scanNode(rs.Subquery, sctx{fr: bodyUp, clause: ClauseFrom, pred: lvl.pred, lvl: sub})
			sub.outsKnown = false
		}
		return s.derivedItem(lvl, sub, rs.Alias)
	case *pg_query.Node_RangeFunction:
		return s.funcItem(lvl, x.RangeFunction, lateral(lvl, *avail, up))
	case *pg_query.Node_RangeTableSample:
		ts := x.RangeTableSample
		rv := ts.Relation.GetRangeVar()
		var it *item
		if rv != nil {
			it = s.relItem(lvl, rv, true)
		} else {
			s.ambiguous("TABLESAMPLE of something other than a table")
			it = s.opaqueItem(lvl, "")
		}
		c := sctx{fr: lateral(lvl, *avail, up), clause: ClauseFrom, pred: lvl.pred, lvl: lvl}
		for _, a := range ts.Args {
			s.scanNode(a, c)
		}
		s.scanNode(ts.Repeatable, c)
		return it
	case *pg_query.Node_RangeTableFunc:
		return s.xmlTable(lvl, x.RangeTableFunc, lateral(lvl, *avail, up))
	case *pg_query.Node_JsonTable:
		return s.jsonTable(lvl, x.JsonTable, lateral(lvl, *avail, up))
	case *pg_query.Node_JoinExpr:
		return s.join(lvl, x.JoinExpr, up, avail)
	}
	s.ambiguous("a FROM item is not understood")
	s.scanNode(n, sctx{fr: lateral(lvl, *avail, up), clause: ClauseFrom, pred: lvl.pred, lvl: lvl})
	return s.opaqueItem(lvl, "")
}

func (s *scoper) leaf(lvl *level, it *item) *item {
	it.lvl = lvl
	it.lo = len(lvl.leaves)
	it.hi = it.lo + 1
	lvl.leaves = append(lvl.leaves, it)
	return it
}

// opaqueItem stands for a FROM item whose columns are not known.
func (s *scoper) opaqueItem(lvl *level, name string) *item {
	return s.leaf(lvl, &item{kind: itemFunc, name: name})
}

// relItem reads a relation in FROM (from: an unqualified name may be a
// WITH query) or the target of a write or COPY.
func (s *scoper) relItem(lvl *level, rv *pg_query.RangeVar, from bool) *item {
	if rv == nil {
		s.ambiguous("a statement without its relation")
		return s.opaqueItem(lvl, "")
	}
	if from && rv.Schemaname == "" && rv.Catalogname == "" {
		if cl := s.ctes.find(rv.Relname); cl != nil {
			return s.cteItem(lvl, cl, rv.Alias)
		}
	}
	r := Relation{Schema: rv.Schemaname, Name: rv.Relname}
	name := rv.Relname
	if rv.Alias != nil {
		name = rv.Alias.Aliasname
	}
	use, cat := s.newUse(r, name)
	it := &item{kind: itemRel, name: name, rel: r, use: use, cat: cat, names: cat, known: cat != nil}
	it.aliased = rv.Alias != nil
	if rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
		// FROM persons AS p(a, b, r): the first columns go by new
		// names, r is religion.
		ren := stringList(rv.Alias.Colnames)
		it.names = append(make([]string, 0, max(len(cat), len(ren))), cat...)
		for i, n := range ren {
			if i < len(it.names) {
				it.names[i] = n
			} else {
				if cat != nil {
					s.ambiguous("%s has more column aliases than columns", name)
				}
				it.names = append(it.names, n)
			}
		}
		it.renamed = len(ren)
	}
	return s.leaf(lvl, it)
}

// cteItem is a reference to a WITH query.
func (s *scoper) cteItem(lvl *level, cl *level, alias *pg_query.Alias) *item {
	cte := cl.cte
	cte.refs++
	it := &item{kind: itemDerived, name: cte.name, sub: cl, cte: cte, known: cl.outsKnown}
	s.leaf(lvl, it)
	for i, o := range cl.outs {
		name := o.name
		if i < len(cte.colnames) {
			name = cte.colnames[i]
		}
		it.cols = append(it.cols, icol{name: name, lineage: o.lineage, t: tgt{it, i}})
	}
	if len(cte.colnames) > len(cl.outs) {
		it.known = false
	}
	if len(cte.extra) > 0 {
		all := it.allLineage()
		for _, e := range cte.extra {
			it.cols = append(it.cols, icol{name: e, lineage: all})
		}
	}
	s.applyAlias(it, alias)
	return it
}

// derivedItem is a subquery in FROM.
func (s *scoper) derivedItem(lvl *level, sub *level, alias *pg_query.Alias) *item {
	it := &item{kind: itemDerived, sub: sub, known: sub.outsKnown}
	s.leaf(lvl, it)
	for i, o := range sub.outs {
		it.cols = append(it.cols, icol{name: o.name, lineage: o.lineage, t: tgt{it, i}})
	}
	s.applyAlias(it, alias)
	return it
}

// applyAlias names an item and renames its first columns.
func (s *scoper) applyAlias(it *item, alias *pg_query.Alias) {
	if alias == nil {
		return
	}
	it.name = alias.Aliasname
	it.aliased = true
	for i, n := range stringList(alias.Colnames) {
		if i < len(it.cols) {
			it.cols[i].name = n
			continue
		}
		if it.known {
			s.ambiguous("%s has more column aliases than columns", it.name)
		}
		it.known = false
		it.cols = append(it.cols, icol{name: n, lineage: it.allLineage()})
	}
}

// funcItem is a function (or ROWS FROM) in FROM. Its columns carry the
// lineage of everything its arguments use; their names are known only
// from a column definition list.
func (s *scoper) funcItem(lvl *level, rf *pg_query.RangeFunction, fr *frame) *item {
	col := s.pushCollector()
	c := sctx{fr: fr, clause: ClauseFrom, pred: lvl.pred, lvl: lvl}
	var names []string
	known := true
	name := ""
	for _, fn := range rf.Functions {
		l := fn.GetList()
		if l == nil || len(l.Items) == 0 {
			s.ambiguous("a FROM function is not understood")
			s.scanNode(fn, c)
			known = false
			continue
		}
		s.scanNode(l.Items[0], c)
		if fc := l.Items[0].GetFuncCall(); fc != nil && len(fc.Funcname) > 0 {
			if str := fc.Funcname[len(fc.Funcname)-1].GetString_(); str != nil {
				name = str.Sval
			}
		}
		var defs []*pg_query.Node
		if len(l.Items) > 1 {
			if dl := l.Items[1].GetList(); dl != nil {
				defs = dl.Items
			}
		}
		if len(defs) == 0 {
			known = false
		}
		names = append(names, columnDefNames(defs)...)
		for _, extra := range l.Items[min(len(l.Items), 2):] {
			s.scanNode(extra, c)
		}
	}
	if len(rf.Coldeflist) > 0 {
		names, known = columnDefNames(rf.Coldeflist), true
	}
	if len(rf.Functions) != 1 || rf.IsRowsfrom {
		name = "" // ROWS FROM has no name of its own
	}
	if rf.Ordinality && known {
		names = append(names, "ordinality")
	}
	s.popCollector()
	it := &item{kind: itemFunc, name: name, known: known, all: col.srcs}
	s.leaf(lvl, it)
	for i, n := range names {
		it.cols = append(it.cols, icol{name: n, lineage: col.srcs, t: tgt{it, i}})
	}
	s.applyAlias(it, rf.Alias)
	return it
}

func columnDefNames(defs []*pg_query.Node) []string {
	var names []string
	for _, d := range defs {
		if cd := d.GetColumnDef(); cd != nil {
			names = append(names, cd.Colname)
		}
	}
	return names
}

// xmlTable is XMLTABLE in FROM.
func (s *scoper) xmlTable(lvl *level, t *pg_query.RangeTableFunc, fr *frame) *item {
	col := s.pushCollector()
	c := sctx{fr: fr, clause: ClauseFrom, pred: lvl.pred, lvl: lvl}
	s.scanNode(t.Docexpr, c)
	s.scanNode(t.Rowexpr, c)
	for _, n := range t.Namespaces {
		s.scanNode(n, c)
	}
	var names []string
	for _, n := range t.Columns {
		if tc := n.GetRangeTableFuncCol(); tc != nil {
			names = append(names, tc.Colname)
		}
		s.scanNode(n, c)
	}
	s.popCollector()
	it := &item{kind: itemFunc, name: "xmltable", known: true, all: col.srcs}
	s.leaf(lvl, it)
	for i, n := range names {
		it.cols = append(it.cols, icol{name: n, lineage: col.srcs, t: tgt{it, i}})
	}
	s.applyAlias(it, t.Alias)
	return it
}

// jsonTable is JSON_TABLE in FROM; its columns are the named ones, NESTED
// paths flattened in order.
func (s *scoper) jsonTable(lvl *level, t *pg_query.JsonTable, fr *frame) *item {
	col := s.pushCollector()
	c := sctx{fr: fr, clause: ClauseFrom, pred: lvl.pred, lvl: lvl}
	s.scanMsg(t.ContextItem.ProtoReflect(), c)
	for _, n := range t.Passing {
		s.scanNode(n, c)
	}
	var names []string
	var walk func([]*pg_query.Node)
	walk = func(cols []*pg_query.Node) {
		for _, n := range cols {
			jc := n.GetJsonTableColumn()
			if jc == nil {
				continue
			}
			if jc.Coltype == pg_query.JsonTableColumnType_JTC_NESTED {
				walk(jc.Columns)
			} else {
				names = append(names, jc.Name)
			}
		}
	}
	walk(t.Columns)
	for _, n := range t.Columns {
		s.scanNode(n, c)
	}
	s.scanMsg(t.OnError.ProtoReflect(), c)
	s.popCollector()
	it := &item{kind: itemFunc, name: "json_table", known: true, all: col.srcs}
	s.leaf(lvl, it)
	for i, n := range names {
		it.cols = append(it.cols, icol{name: n, lineage: col.srcs, t: tgt{it, i}})
	}
	s.applyAlias(it, t.Alias)
	return it
}

// join reads a JOIN. Its ON, USING and NATURAL equalities restrict the
// rows of both sides of an inner join, of the right side of a LEFT JOIN,
// of the left of a RIGHT JOIN, and of neither side of a FULL JOIN, whose
// rows are all kept.
func (s *scoper) join(lvl *level, j *pg_query.JoinExpr, up *frame, avail *[]*item) *item {
	mark := len(*avail)
	l := s.fromItem(lvl, j.Larg, up, avail)
	*avail = append(*avail, l)
	r := s.fromItem(lvl, j.Rarg, up, avail)
	*avail = (*avail)[:mark]

	it := &item{kind: itemJoin, lvl: lvl, left: l, right: r, lo: l.lo, hi: r.hi, known: l.known && r.known}
	lo, hi := 0, 0
	switch j.Jointype {
	case pg_query.JoinType_JOIN_INNER:
		lo, hi = it.lo, it.hi
	case pg_query.JoinType_JOIN_LEFT:
		lo, hi = r.lo, r.hi
	case pg_query.JoinType_JOIN_RIGHT:
		lo, hi = l.lo, l.hi
	}
	qf := &frame{lvl: lvl, vis: []*item{l, r}, up: up}
	c := sctx{fr: qf, clause: ClauseJoin, pred: lvl.pred, lvl: lvl}

	it.cols = make([]icol, 0, l.ncols()+r.ncols())
	var using []string
	switch {
	case j.IsNatural && (!l.known || !r.known):
		s.ambiguous("NATURAL JOIN of a FROM item whose columns are not known")
		it.known = false
	case j.IsNatural:
		for i := 0; i < l.ncols(); i++ {
			if k, _ := r.find(l.colName(i)); k > 0 {
				using = append(using, l.colName(i))
			}
		}
	default:
		using = stringList(j.UsingClause)
	}
	var lm, rm []int // merged columns of each side
	for _, name := range using {
		kl, li := l.find(name)
		kr, ri := r.find(name)
		if kl != 1 || kr != 1 {
			li, ri = s.unknownUsing(l, kl, li, name), s.unknownUsing(r, kr, ri, name)
			if li < 0 || ri < 0 {
				s.ambiguous("JOIN USING column %q is not one column of each side", name)
				it.known = false
				continue
			}
		}
		lm, rm = append(lm, li), append(rm, ri)
		s.emit(l.lineage(li), c)
		s.emit(r.lineage(ri), c)
		t := l.colTgt(li)
		switch j.Jointype {
		case pg_query.JoinType_JOIN_RIGHT:
			t = r.colTgt(ri)
		case pg_query.JoinType_JOIN_FULL:
			t = tgt{} // COALESCE of the two
		}
		it.cols = append(it.cols, icol{name: name, lineage: unionSrcs(l.lineage(li), r.lineage(ri)), t: t})
		if a, b := l.colTgt(li), r.colTgt(ri); a.it != nil && b.it != nil && lo < hi {
			s.addFact(lvl, fact{a: a, b: b, lo: lo, hi: hi})
		}
	}
	it.merged = len(it.cols)
	it.cols = appendJoinCols(it.cols, l, lm)
	it.cols = appendJoinCols(it.cols, r, rm)
	if j.JoinUsingAlias != nil {
		ui := &item{kind: itemOutputs, lvl: lvl, name: j.JoinUsingAlias.Aliasname, known: true, cols: it.cols[:it.merged:it.merged]}
		it.usingItem = ui
	}

	if j.Quals != nil {
		s.scanNode(j.Quals, c)
		s.facts(lvl, j.Quals, qf, lo, hi)
	}
	s.applyAlias(it, j.Alias)
	return it
}

// unknownUsing finds a USING column in a side whose columns are not all
// known: a relation the catalog does not know has it under that name.
func (s *scoper) unknownUsing(it *item, k, i int, name string) int {
	switch {
	case k == 1:
		return i
	case k == 0 && it.kind == itemRel && it.cat == nil:
		return it.addName(name)
	}
	return -1
}

// appendJoinCols adds the columns of one side of a join that USING did not
// merge.
func appendJoinCols(cols []icol, side *item, merged []int) []icol {
	for i := 0; i < side.ncols(); i++ {
		if !containsInt(merged, i) {
			cols = append(cols, icol{name: side.colName(i), lineage: side.lineage(i), t: side.colTgt(i)})
		}
	}
	return cols
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
