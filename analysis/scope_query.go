package analysis

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// stmt dispatches one statement (top-level or wrapped by DECLARE, EXPLAIN,
// PREPARE, COPY, CREATE TABLE AS, CREATE VIEW) to the scope pass.
func (s *scoper) stmt(n *pg_query.Node, up *frame, parent *level, pred bool) {
	switch x := n.GetNode().(type) {
	case nil:
	case *pg_query.Node_SelectStmt:
		lvl := s.newLevel(parent)
		lvl.pred = pred
		s.query(lvl, x.SelectStmt, up)
	case *pg_query.Node_DeclareCursorStmt:
		s.stmt(x.DeclareCursorStmt.Query, up, parent, pred)
	case *pg_query.Node_ExplainStmt:
		s.stmt(x.ExplainStmt.Query, up, parent, pred)
	case *pg_query.Node_PrepareStmt:
		s.stmt(x.PrepareStmt.Query, up, parent, pred)
	case *pg_query.Node_CreateTableAsStmt:
		s.stmt(x.CreateTableAsStmt.Query, up, parent, pred)
	case *pg_query.Node_ViewStmt:
		s.stmt(x.ViewStmt.Query, up, parent, pred)
	case *pg_query.Node_CopyStmt:
		s.copyStmt(x.CopyStmt, up, parent, pred)
	case *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt, *pg_query.Node_MergeStmt:
		lvl := s.newLevel(parent)
		lvl.pred = pred
		s.dml(lvl, n, up)
	default:
		// Utility and DDL statements: whatever they hold is read
		// generically; a relation or column in them is not resolved.
		s.scanNode(n, sctx{clause: ClauseOther, pred: pred, lvl: parent})
	}
}

// query fills lvl with one SELECT, VALUES or set operation.
func (s *scoper) query(lvl *level, sel *pg_query.SelectStmt, up *frame) {
	if sel == nil || !s.spend(1) {
		lvl.outsKnown = false
		return
	}
	saved := s.ctes
	defer func() { s.ctes = saved }()
	if sel.WithClause != nil {
		s.with(lvl, sel.WithClause, up)
	}
	if sel.Op != pg_query.SetOperation_SETOP_NONE {
		s.setOp(lvl, sel, up)
		return
	}

	fr := s.from(lvl, sel.FromClause, up)
	c := sctx{fr: fr, pred: lvl.pred, lvl: lvl}
	// An aggregate anywhere (also only in ORDER BY or a window) makes a
	// query yield a row whatever its WHERE says.
	lvl.plain = len(sel.GroupClause) == 0 && sel.HavingClause == nil && len(sel.ValuesLists) == 0 &&
		len(sel.WindowClause) == 0 && (len(sel.DistinctClause) == 0 || sel.DistinctClause[0].GetNode() == nil) &&
		plainValues(sel.TargetList) && plainValues(sel.SortClause)

	s.targets(lvl, sel.TargetList, c.in(ClauseSelect))
	if len(sel.ValuesLists) > 0 {
		s.values(lvl, sel.ValuesLists, c.in(ClauseOther))
	}
	if sel.WhereClause != nil {
		s.scanNode(sel.WhereClause, c.in(ClauseWhere))
		s.facts(lvl, sel.WhereClause, fr, 0, len(lvl.leaves))
	}
	s.sortList(lvl, sel.GroupClause, c.in(ClauseGroupBy), true)
	if sel.HavingClause != nil {
		// A plain column in HAVING is grouped, so constant within each
		// group: a conjunct on it filters rows as WHERE would.
		s.scanNode(sel.HavingClause, c.in(ClauseHaving))
		s.facts(lvl, sel.HavingClause, fr, 0, len(lvl.leaves))
	}
	for _, w := range sel.WindowClause {
		s.scanNode(w, c.in(ClauseWindow))
	}
	if len(sel.DistinctClause) > 0 && sel.DistinctClause[0].GetNode() != nil {
		lvl.pushable = false // DISTINCT ON picks rows
		s.sortList(lvl, sel.DistinctClause, c.in(ClauseGroupBy), false)
	}
	s.sortList(lvl, sel.SortClause, c.in(ClauseOrderBy), false)
	s.limit(lvl, sel, c)
	// LockingClause names FROM items, not relations; IntoClause names the
	// table written. Neither holds a column reference.
}

func (s *scoper) limit(lvl *level, sel *pg_query.SelectStmt, c sctx) {
	if sel.LimitCount == nil && sel.LimitOffset == nil {
		return
	}
	lvl.pushable = false
	c.pred = true // LIMIT decides how many rows
	s.scanNode(sel.LimitCount, c.in(ClauseOther))
	s.scanNode(sel.LimitOffset, c.in(ClauseOther))
}

// setOp fills lvl with UNION, INTERSECT or EXCEPT: each branch is a level
// of its own, and the outputs are the branches' by position.
func (s *scoper) setOp(lvl *level, sel *pg_query.SelectStmt, up *frame) {
	lvl.setop = true
	l := s.newLevel(lvl)
	s.query(l, sel.Larg, up)
	// A recursive WITH query's own reference, in the right branch, sees
	// the left branch's columns.
	lvl.outs = make([]output, len(l.outs))
	for i, o := range l.outs {
		lvl.outs[i] = output{name: o.name, lineage: o.lineage}
	}
	lvl.outsKnown = l.outsKnown
	r := s.newLevel(lvl)
	s.query(r, sel.Rarg, up)
	if len(r.outs) != len(l.outs) || !r.outsKnown {
		lvl.outsKnown = false
	}
	for i := range lvl.outs {
		if i < len(r.outs) {
			lvl.outs[i].lineage = unionSrcs(lvl.outs[i].lineage, r.outs[i].lineage)
		}
	}
	lvl.branches = []*level{l, r}
	lvl.unknown = unionSrcs(l.unknown, r.unknown)
	if sel.Op == pg_query.SetOperation_SETOP_INTERSECT || sel.Op == pg_query.SetOperation_SETOP_EXCEPT {
		// Rows are kept or dropped by comparing every output column.
		for _, o := range lvl.outs {
			s.predicated(o.lineage)
		}
		s.predicated(lvl.unknown)
	}

	oi := &item{kind: itemOutputs, lvl: lvl, known: lvl.outsKnown}
	for _, o := range lvl.outs {
		oi.cols = append(oi.cols, icol{name: o.name, lineage: o.lineage})
	}
	fr := &frame{lvl: lvl, vis: []*item{oi}, up: up}
	c := sctx{fr: fr, pred: lvl.pred, lvl: lvl}
	s.sortList(lvl, sel.SortClause, c.in(ClauseOrderBy), false)
	s.limit(lvl, sel, c)
}

// with reads a WITH list. A WITH query sees the ones before it (all of them
// with RECURSIVE) and the frames outside the owning level; the rest of the
// owner sees them all. The caller restores s.ctes.
func (s *scoper) with(owner *level, wc *pg_query.WithClause, up *frame) {
	levels := make([]*level, len(wc.Ctes))
	for i, n := range wc.Ctes {
		cte := n.GetCommonTableExpr()
		if cte == nil {
			s.ambiguous("a WITH list entry is not a WITH query")
			continue
		}
		l := &level{parent: owner, pushable: !wc.Recursive, outsKnown: true, pred: owner.pred}
		l.cte = &cteInfo{name: cte.Ctename, recursive: wc.Recursive, colnames: stringList(cte.Aliascolnames)}
		levels[i] = l
		owner.ctes = append(owner.ctes, l)
	}
	scope := &cteScope2{parent: s.ctes}
	s.ctes = scope
	for i, n := range wc.Ctes {
		l := levels[i]
		if l == nil {
			continue
		}
		if wc.Recursive {
			scope.entries = levels
		} else {
			scope.entries = levels[:i]
		}
		cte := n.GetCommonTableExpr()
		switch q := cte.Ctequery.GetNode().(type) {
		case *pg_query.Node_SelectStmt:
			s.query(l, q.SelectStmt, up)
		case *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt, *pg_query.Node_MergeStmt:
			s.dml(l, cte.Ctequery, up)
		default:
			s.ambiguous("WITH query %q is not a query", cte.Ctename)
			l.outsKnown = false
		}
		if sc := cte.SearchClause; sc != nil {
			l.cte.extra = append(l.cte.extra, sc.SearchSeqColumn)
		}
		if cc := cte.CycleClause; cc != nil {
			l.cte.extra = append(l.cte.extra, cc.CycleMarkColumn, cc.CyclePathColumn)
			s.scanNode(cc.CycleMarkValue, sctx{clause: ClauseOther, lvl: l})
			s.scanNode(cc.CycleMarkDefault, sctx{clause: ClauseOther, lvl: l})
		}
	}
	scope.entries = levels
}

// targets reads a select or RETURNING list into lvl's outputs.
func (s *scoper) targets(lvl *level, list []*pg_query.Node, c sctx) {
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			s.ambiguous("a select list entry is not understood")
			s.scanNode(n, c)
			lvl.outsKnown = false
			continue
		}
		if cr := rt.Val.GetColumnRef(); cr != nil && isStar(cr) {
			s.star(cr, c, lvl, true)
			continue
		}
		col := s.pushCollector()
		s.scanNode(rt.Val, c)
		s.popCollector()
		for _, ind := range rt.Indirection {
			s.scanNode(ind, c)
		}
		name, certain := rt.Name, true
		if name == "" {
			name, certain = s.colName(rt.Val)
		}
		out := output{name: name, lineage: col.srcs}
		if rt.Val.GetSubLink() == nil && s.isValue(rt.Val) {
			out.values = 1 // SELECT 2: always that one value
		}
		if cr := rt.Val.GetColumnRef(); cr != nil {
			if t, ok := s.plainTarget(rt.Val, c.fr); ok && t.it.lvl == lvl {
				out.inner = t
			}
		}
		if !certain {
			lvl.outsKnown = false
		}
		lvl.outs = append(lvl.outs, out)
	}
}

// plainValues reports whether a select list or ORDER BY holds only
// constants, parameters and plain columns: no aggregate.
func plainValues(list []*pg_query.Node) bool {
	for _, n := range list {
		var v *pg_query.Node
		switch {
		case n.GetResTarget() != nil:
			v = n.GetResTarget().Val
		case n.GetSortBy() != nil:
			v = n.GetSortBy().Node
		default:
			return false
		}
		for v.GetTypeCast() != nil {
			v = v.GetTypeCast().Arg
		}
		switch v.GetNode().(type) {
		case *pg_query.Node_ColumnRef, *pg_query.Node_AConst, *pg_query.Node_ParamRef:
		default:
			return false
		}
	}
	return true
}

// values reads VALUES rows: output k is column k+1 of every row. A column
// of constants only is restricted to them.
func (s *scoper) values(lvl *level, rows []*pg_query.Node, c sctx) {
	var cols []*collector
	var consts [][]valueKey
	var sets []dedup[valueKey]
	allConst := []bool{}
	for _, row := range rows {
		l := row.GetList()
		if l == nil {
			s.ambiguous("a VALUES row is not a list")
			s.scanNode(row, c)
			continue
		}
		if len(cols) > 0 && len(l.Items) != len(cols) {
			s.ambiguous("VALUES rows of different lengths")
		}
		for j, e := range l.Items {
			if j == len(cols) {
				cols = append(cols, &collector{})
				consts, sets = append(consts, nil), append(sets, dedup[valueKey]{})
				allConst = append(allConst, true)
			}
			if allConst[j] {
				if k, ok := s.valueKey(e, 0); ok && s.isValue(e) && e.GetSubLink() == nil {
					sets[j].add(&consts[j], k)
				} else {
					allConst[j] = false
				}
			}
			s.colls = append(s.colls, cols[j])
			s.scanNode(e, c)
			s.colls = s.colls[:len(s.colls)-1]
		}
	}
	for j, col := range cols {
		o := output{name: "column" + itoa(int32(j+1)), lineage: col.srcs}
		if allConst[j] && len(consts[j]) > 0 {
			o.values = len(consts[j])
		}
		lvl.outs = append(lvl.outs, o)
	}
}

// sortList reads GROUP BY, DISTINCT ON or ORDER BY items, which may name
// output columns by position or by name. PostgreSQL reads a bare name in
// ORDER BY and DISTINCT ON as an output column first, in GROUP BY as an
// input column first.
func (s *scoper) sortList(lvl *level, list []*pg_query.Node, c sctx, group bool) {
	for _, n := range list {
		node := n
		if sb := n.GetSortBy(); sb != nil {
			node = sb.Node
		}
		if gs := node.GetGroupingSet(); gs != nil {
			s.sortList(lvl, gs.Content, c, group)
			continue
		}
		if k, ok := position(node); ok {
			if k >= 1 && k <= len(lvl.outs) {
				s.emit(lvl.outs[k-1].lineage, c)
			}
			if k < 1 || k > len(lvl.outs) || lvl.posUnknown {
				s.ambiguous("position %d does not name a known output column", k)
				s.emit(lvl.unknown, c)
			}
			continue
		}
		name, ok := bareName(node)
		if !ok {
			s.scanNode(node, c)
			continue
		}
		if group {
			if r := s.resolve(c.fr, []string{name}); r.kind != resNone {
				s.record(r, c)
				continue
			}
		}
		switch outs := s.outputsNamed(lvl, name); {
		case len(outs) == 1:
			s.emit(outs[0].lineage, c)
		case len(outs) > 1:
			s.ambiguous("%q names several output columns", name)
			for _, o := range outs {
				s.emit(o.lineage, c)
			}
		default:
			if !lvl.outsKnown {
				s.ambiguous("%q may name an output column whose name is not known", name)
			}
			s.scanNode(node, c)
		}
	}
}

func (s *scoper) outputsNamed(lvl *level, name string) []*output {
	var outs []*output
	for i := range lvl.outs {
		if lvl.outs[i].name == name {
			outs = append(outs, &lvl.outs[i])
		}
	}
	return outs
}

// position reads ORDER BY 2.
func position(n *pg_query.Node) (int, bool) {
	c := n.GetAConst()
	if c == nil || c.Isnull {
		return 0, false
	}
	if v, ok := c.Val.(*pg_query.A_Const_Ival); ok {
		return int(v.Ival.GetIval()), true
	}
	return 0, false
}

func bareName(n *pg_query.Node) (string, bool) {
	cr := n.GetColumnRef()
	if cr == nil || len(cr.Fields) != 1 {
		return "", false
	}
	if str := cr.Fields[0].GetString_(); str != nil {
		return str.Sval, true
	}
	return "", false
}

// dml fills lvl with INSERT, UPDATE, DELETE or MERGE: the target is a
// relation use like any FROM item. Writes are never pushed into.
func (s *scoper) dml(lvl *level, n *pg_query.Node, up *frame) {
	lvl.pushable = false
	saved := s.ctes
	defer func() { s.ctes = saved }()
	switch x := n.GetNode().(type) {
	case *pg_query.Node_UpdateStmt:
		u := x.UpdateStmt
		if u.WithClause != nil {
			s.with(lvl, u.WithClause, up)
		}
		target := s.relItem(lvl, u.Relation, false)
		fr := s.from(lvl, u.FromClause, up)
		fr.vis = append([]*item{target}, fr.vis...)
		c := sctx{fr: fr, pred: lvl.pred, lvl: lvl}
		s.assignments(target, u.TargetList, c.in(ClauseAssign))
		if u.WhereClause != nil {
			s.scanNode(u.WhereClause, c.in(ClauseWhere))
			s.facts(lvl, u.WhereClause, fr, 0, len(lvl.leaves))
		}
		s.targets(lvl, u.ReturningList, c.in(ClauseReturning))
	case *pg_query.Node_DeleteStmt:
		d := x.DeleteStmt
		if d.WithClause != nil {
			s.with(lvl, d.WithClause, up)
		}
		target := s.relItem(lvl, d.Relation, false)
		fr := s.from(lvl, d.UsingClause, up)
		fr.vis = append([]*item{target}, fr.vis...)
		c := sctx{fr: fr, pred: lvl.pred, lvl: lvl}
		if d.WhereClause != nil {
			s.scanNode(d.WhereClause, c.in(ClauseWhere))
			s.facts(lvl, d.WhereClause, fr, 0, len(lvl.leaves))
		}
		s.targets(lvl, d.ReturningList, c.in(ClauseReturning))
	case *pg_query.Node_InsertStmt:
		in := x.InsertStmt
		if in.WithClause != nil {
			s.with(lvl, in.WithClause, up)
		}
		target := s.relItem(lvl, in.Relation, false)
		fr := &frame{lvl: lvl, vis: []*item{target}, up: up}
		c := sctx{fr: fr, pred: lvl.pred, lvl: lvl}
		s.assignments(target, in.Cols, c.in(ClauseAssign))
		if in.SelectStmt != nil {
			// The source cannot see the target.
			s.stmt(in.SelectStmt, up, lvl, lvl.pred)
		}
		if oc := in.OnConflictClause; oc != nil {
			excluded := &item{kind: itemValues, name: "excluded", lvl: lvl, known: target.known}
			for _, n := range target.names {
				excluded.cols = append(excluded.cols, icol{name: n})
			}
			ocf := &frame{lvl: lvl, vis: []*item{target, excluded}, up: up}
			cc := sctx{fr: ocf, pred: lvl.pred, lvl: lvl}
			if inf := oc.Infer; inf != nil {
				for _, e := range inf.IndexElems {
					if ie := e.GetIndexElem(); ie != nil && ie.Name != "" {
						s.assignName(target, ie.Name, cc.in(ClauseOther))
					}
					s.scanNode(e, cc.in(ClauseOther))
				}
				s.scanNode(inf.WhereClause, cc.in(ClauseWhere))
			}
			s.assignments(target, oc.TargetList, cc.in(ClauseAssign))
			s.scanNode(oc.WhereClause, cc.in(ClauseWhere))
		}
		s.targets(lvl, in.ReturningList, c.in(ClauseReturning))
	case *pg_query.Node_MergeStmt:
		m := x.MergeStmt
		if m.WithClause != nil {
			s.with(lvl, m.WithClause, up)
		}
		target := s.relItem(lvl, m.Relation, false)
		var avail []*item
		source := s.fromItem(lvl, m.SourceRelation, up, &avail)
		fr := &frame{lvl: lvl, vis: []*item{target, source}, up: up}
		c := sctx{fr: fr, pred: lvl.pred, lvl: lvl}
		// Unmatched rows of either side may be acted on: the join
		// condition restricts nothing.
		s.scanNode(m.JoinCondition, c.in(ClauseJoin))
		for _, w := range m.MergeWhenClauses {
			mw := w.GetMergeWhenClause()
			if mw == nil {
				s.ambiguous("a MERGE WHEN clause is not understood")
				s.scanNode(w, c.in(ClauseOther))
				continue
			}
			s.scanNode(mw.Condition, c.in(ClauseWhere))
			s.assignments(target, mw.TargetList, c.in(ClauseAssign))
			for _, v := range mw.Values {
				s.scanNode(v, c.in(ClauseAssign))
			}
		}
		s.targets(lvl, m.ReturningList, c.in(ClauseReturning))
	}
}

// assignments reads INSERT column lists and UPDATE SET lists: each names a
// column of the target, and its value (if any) is an expression.
func (s *scoper) assignments(target *item, list []*pg_query.Node, c sctx) {
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			s.ambiguous("an assignment is not understood")
			s.scanNode(n, c)
			continue
		}
		if rt.Name != "" {
			s.assignName(target, rt.Name, c)
		}
		for _, ind := range rt.Indirection {
			s.scanNode(ind, c)
		}
		s.scanNode(rt.Val, c)
	}
}

// assignName records a column of target named without a qualifier where
// only the target can be meant.
func (s *scoper) assignName(target *item, name string, c sctx) {
	k, i := target.find(name)
	switch {
	case k == 1:
		s.emit(target.lineage(i), c)
	case target.kind == itemRel && target.cat == nil:
		s.emit(target.lineage(target.addName(name)), c)
	default:
		s.ambiguous("column %q is not a column of %s", name, target.name)
	}
}

func (s *scoper) copyStmt(cs *pg_query.CopyStmt, up *frame, parent *level, pred bool) {
	if cs.Query != nil {
		s.stmt(cs.Query, up, parent, pred)
	}
	if cs.Relation == nil {
		return
	}
	lvl := s.newLevel(parent)
	lvl.pred = pred
	lvl.pushable = false
	it := s.relItem(lvl, cs.Relation, false)
	c := sctx{fr: &frame{lvl: lvl, vis: []*item{it}}, pred: pred, lvl: lvl}
	if len(cs.Attlist) == 0 {
		s.emit(it.allLineage(), c.in(ClauseSelect))
	}
	for _, n := range cs.Attlist {
		if str := n.GetString_(); str != nil {
			s.assignName(it, str.Sval, c.in(ClauseSelect))
		} else {
			s.ambiguous("a COPY column list entry is not a name")
		}
	}
	if cs.WhereClause != nil {
		s.scanNode(cs.WhereClause, c.in(ClauseWhere))
	}
}

func stringList(list []*pg_query.Node) []string {
	if len(list) == 0 {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, n := range list {
		if str := n.GetString_(); str != nil {
			out = append(out, str.Sval)
		} else {
			out = append(out, "")
		}
	}
	return out
}
