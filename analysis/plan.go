package analysis

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A plan is what the walk needs to know about one node type, worked out
// once: its message-valued fields and the context each gives its children.

type plan struct {
	known  bool
	fields []fieldPlan // the fields that hold messages, in declaration order
}

type fieldPlan struct {
	fd   protoreflect.FieldDescriptor
	list bool
	with bool // a statement's WITH clause, which withScope walks first
	rule rule
}

// rule is how a field changes the context of its children. Clauses are
// inherited downwards until a field names a new one, so a column inside a
// function inside a WHERE is in the WHERE; a subquery's own clauses take
// over inside it.
type rule struct {
	clause   Clause // "" keeps the parent's
	resList  bool
	from     bool
	keepFrom bool
	assign   bool
	target   bool // the value of a ResTarget: a target if the ResTarget is in a select list
	noRel    bool
}

func (r rule) apply(c ctx) ctx {
	n := ctx{clause: c.clause, resList: r.resList, assign: r.assign, noRel: r.noRel}
	if r.clause != "" {
		n.clause = r.clause
	}
	n.from = r.from || (r.keepFrom && c.from)
	n.target = r.target && c.resList
	return n
}

var rules = map[protoreflect.FullName]rule{}

func init() {
	set := func(r rule, names ...protoreflect.FullName) {
		for _, n := range names {
			rules[n] = r
		}
	}
	set(rule{clause: ClauseSelect, resList: true}, "pg_query.SelectStmt.target_list")
	set(rule{clause: ClauseReturning, resList: true},
		"pg_query.InsertStmt.returning_list", "pg_query.UpdateStmt.returning_list",
		"pg_query.DeleteStmt.returning_list", "pg_query.MergeStmt.returning_list")
	set(rule{target: true}, "pg_query.ResTarget.val")
	set(rule{clause: ClauseAssign, assign: true},
		"pg_query.InsertStmt.cols", "pg_query.UpdateStmt.target_list",
		"pg_query.OnConflictClause.target_list", "pg_query.MergeWhenClause.target_list")
	set(rule{clause: ClauseFrom, from: true},
		"pg_query.SelectStmt.from_clause", "pg_query.UpdateStmt.from_clause",
		"pg_query.DeleteStmt.using_clause", "pg_query.MergeStmt.source_relation")
	set(rule{keepFrom: true}, "pg_query.JoinExpr.larg", "pg_query.JoinExpr.rarg")
	set(rule{clause: ClauseJoin}, "pg_query.JoinExpr.quals", "pg_query.MergeStmt.join_condition")
	set(rule{clause: ClauseWhere},
		"pg_query.SelectStmt.where_clause", "pg_query.UpdateStmt.where_clause",
		"pg_query.DeleteStmt.where_clause", "pg_query.CopyStmt.where_clause",
		"pg_query.OnConflictClause.where_clause", "pg_query.InferClause.where_clause",
		"pg_query.FuncCall.agg_filter", "pg_query.MergeWhenClause.condition")
	set(rule{clause: ClauseGroupBy}, "pg_query.SelectStmt.group_clause", "pg_query.SelectStmt.distinct_clause")
	set(rule{clause: ClauseHaving}, "pg_query.SelectStmt.having_clause")
	set(rule{clause: ClauseWindow}, "pg_query.SelectStmt.window_clause", "pg_query.FuncCall.over")
	set(rule{clause: ClauseOrderBy}, "pg_query.SelectStmt.sort_clause", "pg_query.FuncCall.agg_order")
	set(rule{clause: ClauseOther},
		"pg_query.SelectStmt.values_lists", "pg_query.SelectStmt.limit_offset",
		"pg_query.SelectStmt.limit_count", "pg_query.InsertStmt.select_stmt",
		"pg_query.MergeWhenClause.values", "pg_query.CommonTableExpr.ctequery")
	set(rule{noRel: true}, "pg_query.LockingClause.locked_rels")

	msgs := pg_query.File_pg_query_proto.Messages()
	plans = make(map[protoreflect.MessageDescriptor]*plan, msgs.Len())
	for i := 0; i < msgs.Len(); i++ {
		plans[msgs.Get(i)] = newPlan(msgs.Get(i))
	}
	for name := range rules {
		if pg_query.File_pg_query_proto.Messages().ByName(name.Parent().Name()) == nil {
			panic("analysis: rule for unknown field " + string(name))
		}
	}
}

var plans map[protoreflect.MessageDescriptor]*plan

func planOf(md protoreflect.MessageDescriptor) *plan {
	if p, ok := plans[md]; ok {
		return p
	}
	return newPlan(md) // not a pg_query node: known is false
}

func newPlan(md protoreflect.MessageDescriptor) *plan {
	p := &plan{known: knownNodes[md.FullName()]}
	fds := md.Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			continue
		}
		if fd.IsMap() {
			// No node type has one; if one appears, its plan must not be
			// trusted.
			p.known = false
			continue
		}
		p.fields = append(p.fields, fieldPlan{
			fd:   fd,
			list: fd.IsList(),
			with: fd.Name() == "with_clause",
			rule: rules[fd.FullName()],
		})
	}
	return p
}
