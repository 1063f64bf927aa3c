package analysis

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Restrictions. A restriction of a leaf's column is an int: 0 unrestricted,
// -1 restricted to a set of values of unknown size, n > 0 to at most n
// values. It means: in every row the level yields where the leaf is not
// null-extended, the column holds one of those values.
//
// Facts come from top-level AND conjuncts: col = const, col IN (consts),
// col = ANY(array), and col = col equalities (also USING and NATURAL). A
// fact holds for a range of the level's leaves: all of them for WHERE and
// HAVING, the join's for an inner join's ON, the nullable side's for an
// outer join's ON, none for a FULL JOIN. A leaf's column is restricted when
// the facts that hold for it tie it, through equalities, to a constant set
// or to a column already restricted (of its own level, solved so far, or
// of an outer level, solved before).

type fact struct {
	a, b   tgt    // b.it == nil: a is one of n values
	n      int    //
	in     *level // a IN (SELECT ...): n is what the subquery's column is restricted to
	lo, hi int
}

func (s *scoper) addFact(lvl *level, f fact) {
	if s.spend(1) {
		lvl.facts = append(lvl.facts, f)
	}
}

// facts collects the facts of the conjuncts of expr, which stands in
// frame fr and holds for leaves lo..hi-1 of lvl.
func (s *scoper) facts(lvl *level, n *pg_query.Node, fr *frame, lo, hi int) {
	if n == nil || lo >= hi || s.over {
		return
	}
	switch x := n.GetNode().(type) {
	case *pg_query.Node_BoolExpr:
		if x.BoolExpr.Boolop == pg_query.BoolExprType_AND_EXPR {
			for _, a := range x.BoolExpr.Args {
				s.facts(lvl, a, fr, lo, hi)
			}
		}
	case *pg_query.Node_SubLink:
		sl := x.SubLink
		if sl.SubLinkType == pg_query.SubLinkType_EXISTS_SUBLINK {
			s.existsFacts(lvl, s.sublinks[sl], lo, hi)
			return
		}
		// col IN (SELECT ...), col = ANY (SELECT ...): bounded when the
		// subquery's column is.
		if sl.SubLinkType != pg_query.SubLinkType_ANY_SUBLINK || len(sl.OperName) > 0 && !isEquals(sl.OperName) {
			return
		}
		t, ok := s.plainTarget(sl.Testexpr, fr)
		if !ok {
			return
		}
		if in := s.sublinks[sl]; in != nil {
			s.addFact(lvl, fact{a: t, in: in, lo: lo, hi: hi})
		}
	case *pg_query.Node_AExpr:
		e := x.AExpr
		if !isEquals(e.Name) {
			return
		}
		switch e.Kind {
		case pg_query.A_Expr_Kind_AEXPR_OP:
			s.equality(lvl, e.Lexpr, e.Rexpr, fr, lo, hi)
		case pg_query.A_Expr_Kind_AEXPR_IN:
			list := e.Rexpr.GetList()
			if list == nil {
				return
			}
			if t, ok := s.plainTarget(e.Lexpr, fr); ok {
				if k := s.countValues(list.Items); k > 0 {
					s.addFact(lvl, fact{a: t, n: k, lo: lo, hi: hi})
				}
			}
		case pg_query.A_Expr_Kind_AEXPR_OP_ANY:
			if t, ok := s.plainTarget(e.Lexpr, fr); ok {
				if k := s.arrayCount(e.Rexpr); k != 0 {
					s.addFact(lvl, fact{a: t, n: k, lo: lo, hi: hi})
				}
			}
		}
	}
}

// existsFacts reads EXISTS (SELECT ... WHERE ...) as a conjunct: where it
// holds, a row of the subquery meets its WHERE, so that WHERE's facts hold
// too, and tie outer columns: EXISTS (SELECT 1 FROM persons p WHERE
// p.person_id = l.person_id AND p.person_id = 1) restricts l.person_id. Not
// for a subquery that can yield a row its WHERE rejects (an aggregate).
func (s *scoper) existsFacts(lvl, sub *level, lo, hi int) {
	if sub == nil || !sub.plain || sub.setop {
		return
	}
	for _, f := range sub.facts {
		if f.lo == 0 && f.hi == len(sub.leaves) {
			f.lo, f.hi = lo, hi
			s.addFact(lvl, f)
		}
	}
}

// equality reads l = r.
func (s *scoper) equality(lvl *level, l, r *pg_query.Node, fr *frame, lo, hi int) {
	if lr, rr := l.GetRowExpr(), r.GetRowExpr(); lr != nil && rr != nil {
		// (a, b) = (1, 2) is a = 1 AND b = 2.
		if len(lr.Args) == len(rr.Args) {
			for i := range lr.Args {
				s.equality(lvl, lr.Args[i], rr.Args[i], fr, lo, hi)
			}
		}
		return
	}
	lt, lok := s.plainTarget(l, fr)
	rt, rok := s.plainTarget(r, fr)
	switch {
	case lok && rok:
		s.addFact(lvl, fact{a: lt, b: rt, lo: lo, hi: hi})
	case lok && s.isValue(r):
		s.addFact(lvl, fact{a: lt, n: 1, lo: lo, hi: hi})
	case rok && s.isValue(l):
		s.addFact(lvl, fact{a: rt, n: 1, lo: lo, hi: hi})
	}
}

// isEquals accepts only the built-in equality operator: OPERATOR(x.=) of
// another schema could mean anything.
func isEquals(name []*pg_query.Node) bool {
	switch len(name) {
	case 1:
		return name[0].GetString_().GetSval() == "="
	case 2:
		return name[0].GetString_().GetSval() == "pg_catalog" && name[1].GetString_().GetSval() == "="
	}
	return false
}

// isValue accepts one value that does not depend on the row: a non-null
// constant, a parameter, either cast, or an uncorrelated scalar subquery
// (which yields at most one row). A cast or function on the column side is
// never a restriction, and NULL matches nothing.
func (s *scoper) isValue(n *pg_query.Node) bool {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_AConst:
		return !x.AConst.Isnull
	case *pg_query.Node_ParamRef:
		return true
	case *pg_query.Node_TypeCast:
		return s.isValue(x.TypeCast.Arg)
	case *pg_query.Node_SubLink:
		if x.SubLink.SubLinkType != pg_query.SubLinkType_EXPR_SUBLINK {
			return false
		}
		if l := s.sublinks[x.SubLink]; l != nil {
			return !l.escapes
		}
	}
	return false
}

// valueKey tells values apart for counting; the count is an upper bound,
// so 101 and '101' may count twice.
type valueKey struct {
	kind byte
	text string
	num  int32
}

func (s *scoper) valueKey(n *pg_query.Node, seq int) (valueKey, bool) {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_TypeCast:
		return s.valueKey(x.TypeCast.Arg, seq)
	case *pg_query.Node_ParamRef:
		return valueKey{kind: '$', num: x.ParamRef.Number}, true
	case *pg_query.Node_AConst:
		if x.AConst.Isnull {
			return valueKey{}, false
		}
		v, _ := constString(n)
		return valueKey{kind: 'c', text: v}, true
	}
	return valueKey{kind: 'q', num: int32(seq)}, true // a scalar subquery
}

// countValues counts the distinct values of an IN list; 0 when an item is
// not a value.
func (s *scoper) countValues(items []*pg_query.Node) int {
	var keys []valueKey
	var set dedup[valueKey]
	for i, n := range items {
		if c := n.GetAConst(); c != nil && c.Isnull {
			continue
		}
		if !s.isValue(n) {
			return 0
		}
		k, _ := s.valueKey(n, i)
		set.add(&keys, k)
	}
	return len(keys)
}

// arrayCount counts the elements of the array of = ANY(array): an array
// literal '{1,2}', ARRAY[1, 2], either cast; -1 for a parameter. 0 when it
// is none of those.
func (s *scoper) arrayCount(n *pg_query.Node) int {
	for n.GetTypeCast() != nil {
		n = n.GetTypeCast().Arg
	}
	switch x := n.GetNode().(type) {
	case *pg_query.Node_ParamRef:
		return -1
	case *pg_query.Node_AConst:
		if x.AConst.Isnull {
			return 0
		}
		sv, ok := x.AConst.Val.(*pg_query.A_Const_Sval)
		if !ok {
			return 0
		}
		k, ok := arrayLiteralCount(sv.Sval.GetSval())
		if !ok {
			return -1 // a constant still bounds it
		}
		return k
	case *pg_query.Node_AArrayExpr:
		var elems []*pg_query.Node
		var flat func(*pg_query.A_ArrayExpr) bool
		flat = func(a *pg_query.A_ArrayExpr) bool {
			for _, e := range a.Elements {
				if sub := e.GetAArrayExpr(); sub != nil {
					if !flat(sub) {
						return false
					}
					continue
				}
				elems = append(elems, e)
			}
			return true
		}
		if !flat(x.AArrayExpr) {
			return 0
		}
		return s.countValues(elems)
	}
	return 0
}

// arrayLiteralCount counts the distinct non-null elements of an array
// literal such as {1,2,"3"} or [1:2]={1,2}, nested arrays flattened.
func arrayLiteralCount(lit string) (int, bool) {
	lit = strings.TrimSpace(lit)
	if strings.HasPrefix(lit, "[") {
		i := strings.IndexByte(lit, '=')
		if i < 0 {
			return 0, false
		}
		lit = strings.TrimSpace(lit[i+1:])
	}
	if len(lit) < 2 || lit[0] != '{' || lit[len(lit)-1] != '}' {
		return 0, false
	}
	var elems []string
	var set dedup[string]
	depth := 0
	var cur strings.Builder
	quoted, inElem := false, false
	flush := func() {
		if inElem {
			e := cur.String()
			if quoted || !strings.EqualFold(strings.TrimSpace(e), "null") {
				if !quoted {
					e = strings.TrimSpace(e)
				}
				set.add(&elems, e)
			}
		}
		cur.Reset()
		quoted, inElem = false, false
	}
	for i := 0; i < len(lit); i++ {
		ch := lit[i]
		switch {
		case ch == '{':
			if inElem {
				return 0, false
			}
			depth++
		case ch == '}':
			flush()
			depth--
			if depth < 0 {
				return 0, false
			}
		case ch == ',':
			flush()
		case ch == '"':
			if inElem {
				return 0, false
			}
			inElem, quoted = true, true
			for i++; ; i++ {
				if i >= len(lit) {
					return 0, false
				}
				if lit[i] == '\\' && i+1 < len(lit) {
					i++
					cur.WriteByte(lit[i])
					continue
				}
				if lit[i] == '"' {
					break
				}
				cur.WriteByte(lit[i])
			}
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inElem && !quoted {
				cur.WriteByte(ch)
			}
		default:
			if quoted {
				return 0, false
			}
			if ch == '\\' && i+1 < len(lit) {
				i++
				ch = lit[i]
			}
			inElem = true
			cur.WriteByte(ch)
		}
		if depth == 0 && i != len(lit)-1 {
			return 0, false
		}
	}
	if depth != 0 {
		return 0, false
	}
	return len(elems), true
}

// combine is what both restrictions together allow.
func combine(a, b int) int {
	switch {
	case a == 0 || a == -1 && b != 0:
		return b
	case b == 0 || b == -1:
		return a
	}
	return min(a, b)
}

// sumRestr is what either restriction allows (a WITH query read twice).
func sumRestr(a, b int) int {
	if a == -1 || b == -1 {
		return -1
	}
	return a + b
}

func (it *item) restrAt(i int) int {
	if i < 0 || i >= len(it.restr) {
		return 0
	}
	return it.restr[i]
}

// tighten records v for column i if it says more than what is known.
func (it *item) tighten(i, v int) bool {
	if v == 0 || i < 0 {
		return false
	}
	old := it.restrAt(i)
	if combine(old, v) == old && old != 0 {
		return false
	}
	for len(it.restr) <= i {
		it.restr = append(it.restr, 0)
	}
	it.restr[i] = combine(old, v)
	return true
}

// lift settles each level with its own facts, inner levels first, and
// gives an outer level the restrictions of its subqueries' output columns:
// FROM (SELECT person_id ... WHERE person_id = 1) x restricts x.person_id.
// Outer levels are not solved yet, so only a level's own constants count;
// solve then goes top-down.
func (s *scoper) lift(lvl *level) {
	if s.over {
		return
	}
	for _, c := range lvl.ctes {
		s.lift(c)
	}
	for _, c := range lvl.children {
		s.lift(c)
	}
	for _, it := range lvl.leaves {
		if it.kind != itemDerived || it.sub == nil {
			continue
		}
		for k := 0; k < len(it.cols) && k < len(it.sub.outs); k++ {
			if v := s.outRestr(it.sub, k); v != 0 {
				s.addFact(lvl, fact{a: tgt{it, k}, n: v, lo: it.lo, hi: it.hi})
			}
		}
	}
	s.fixpoint(lvl)
}

// outRestr is what the rows of lvl restrict output column k to; a set
// operation's column is restricted when every branch's is.
func (s *scoper) outRestr(lvl *level, k int) int {
	if lvl.setop {
		total := 0
		for _, b := range lvl.branches {
			v := s.outRestr(b, k)
			if v == 0 {
				return 0
			}
			total = sumRestr(total, v)
		}
		return total
	}
	if k >= len(lvl.outs) {
		return 0
	}
	o := lvl.outs[k]
	if o.values != 0 {
		return o.values
	}
	if o.inner.it != nil {
		return o.inner.it.restrAt(o.inner.col)
	}
	return 0
}

func (s *scoper) fixpoint(lvl *level) {
	if len(lvl.facts) == 0 {
		return
	}
	for pass := 0; pass <= len(lvl.leaves); pass++ {
		changed := false
		for i, it := range lvl.leaves {
			if s.solveLeaf(lvl, i, it) {
				changed = true
			}
		}
		if !changed || s.over {
			return
		}
	}
}

// solve settles the restrictions of lvl, hands those of its subqueries'
// output columns down, and goes on to the levels inside, outer before
// inner, WITH queries after everything that reads them.
func (s *scoper) solve(lvl *level) {
	if s.over {
		return
	}
	s.fixpoint(lvl)
	for _, it := range lvl.leaves {
		for k, v := range it.restr {
			if v == 0 {
				continue
			}
			switch it.kind {
			case itemRel:
				name := it.realName(k)
				if name == "*" {
					continue
				}
				u := &s.st.Uses[it.use]
				if u.Restricted == nil {
					u.Restricted = make(map[string]int, 1)
				}
				u.Restricted[name] = combine(u.Restricted[name], v)
			case itemDerived:
				if it.cte != nil {
					if !it.cte.recursive {
						if it.cte.acc == nil {
							it.cte.acc = map[int]pushAcc{}
						}
						a := it.cte.acc[k]
						it.cte.acc[k] = pushAcc{refs: a.refs + 1, sum: sumRestr(a.sum, v)}
					}
				} else {
					s.push(it.sub, k, v)
				}
			}
		}
	}
	for _, c := range lvl.children {
		s.solve(c)
	}
	for i := len(lvl.ctes) - 1; i >= 0; i-- {
		c := lvl.ctes[i]
		// A WITH query's rows are restricted only if every reference
		// restricts them, to the sum of what each allows.
		for k, a := range c.cte.acc {
			if a.refs == c.cte.refs {
				s.push(c, k, a.sum)
			}
		}
		s.solve(c)
	}
}

// push applies a restriction of output column k of lvl to its rows.
// Filtering the output by a plain column is filtering the rows it comes
// from, unless the level looks at other rows (LIMIT, window, DISTINCT ON)
// or writes. Grouping keeps it so: a plain column of a grouped level is
// constant within each group.
func (s *scoper) push(lvl *level, k, v int) {
	if !lvl.pushable || k >= len(lvl.outs) && !lvl.setop {
		return
	}
	if lvl.setop {
		for _, b := range lvl.branches {
			s.push(b, k, v)
		}
		return
	}
	if t := lvl.outs[k].inner; t.it != nil {
		s.addFact(lvl, fact{a: t, n: v, lo: 0, hi: len(lvl.leaves)})
	}
}

type member struct {
	t      tgt
	parent int
	val    int
}

// solveLeaf ties the facts that hold for leaf i into classes of equal
// columns and tightens the leaf's columns to their class's restriction.
func (s *scoper) solveLeaf(lvl *level, i int, leaf *item) bool {
	mentioned := false
	for _, f := range lvl.facts {
		if f.lo <= i && i < f.hi && (f.a.it == leaf || f.b.it == leaf) {
			mentioned = true
			break
		}
	}
	if !mentioned || !s.spend(len(lvl.facts)) {
		return false
	}
	members := s.members[:0]
	defer func() { s.members = members[:0] }()
	var index map[tgt]int
	idx := func(t tgt) int {
		if index != nil {
			if j, ok := index[t]; ok {
				return j
			}
		} else {
			for j := range members {
				if members[j].t == t {
					return j
				}
			}
		}
		members = append(members, member{t: t, parent: len(members), val: t.it.restrAt(t.col)})
		if index == nil && len(members) > 16 {
			index = make(map[tgt]int, 2*len(members))
			for j, m := range members {
				index[m.t] = j
			}
		} else if index != nil {
			index[t] = len(members) - 1
		}
		return len(members) - 1
	}
	find := func(j int) int {
		for members[j].parent != j {
			members[j].parent = members[members[j].parent].parent
			j = members[j].parent
		}
		return j
	}
	for _, f := range lvl.facts {
		if f.lo > i || i >= f.hi {
			continue
		}
		a := idx(f.a)
		if f.in != nil {
			members[a].val = combine(members[a].val, s.outRestr(f.in, 0))
			continue
		}
		if f.b.it == nil {
			members[a].val = combine(members[a].val, f.n)
			continue
		}
		b := idx(f.b)
		ra, rb := find(a), find(b)
		if ra != rb {
			members[rb].parent = ra
			members[ra].val = combine(members[ra].val, members[rb].val)
		}
	}
	for j := range members {
		if r := find(j); r != j {
			members[r].val = combine(members[r].val, members[j].val)
		}
	}
	changed := false
	for j := range members {
		if members[j].t.it == leaf && leaf.tighten(members[j].t.col, members[find(j)].val) {
			changed = true
		}
	}
	return changed
}
