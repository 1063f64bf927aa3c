package analysis

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// colName names a select-list entry that has no AS, as PostgreSQL's
// FigureColname does (parser/parse_target.c), so that an outer query's
// reference to a subquery's column finds the right one. certain is false
// for an expression this copy of the rules does not cover; the subquery's
// columns are then not all known, and a reference that matches none of the
// certain names is ambiguous.
func (s *scoper) colName(n *pg_query.Node) (string, bool) {
	name, strength, certain := s.figure(n)
	if strength == 0 {
		return "?column?", certain
	}
	return name, certain
}

// figure returns a name and its strength: 2 a real name, 1 a fallback such
// as a type name or "case", 0 none.
func (s *scoper) figure(n *pg_query.Node) (string, int, bool) {
	switch x := n.GetNode().(type) {
	case nil:
		return "", 0, true
	case *pg_query.Node_ColumnRef:
		name := ""
		for _, f := range x.ColumnRef.Fields {
			if str := f.GetString_(); str != nil {
				name = str.Sval
			}
		}
		if name != "" {
			return name, 2, true
		}
	case *pg_query.Node_AIndirection:
		name := ""
		for _, f := range x.AIndirection.Indirection {
			if str := f.GetString_(); str != nil {
				name = str.Sval
			}
		}
		if name != "" {
			return name, 2, true
		}
		return s.figure(x.AIndirection.Arg)
	case *pg_query.Node_FuncCall:
		if fn := x.FuncCall.Funcname; len(fn) > 0 {
			return fn[len(fn)-1].GetString_().GetSval(), 2, true
		}
	case *pg_query.Node_AExpr:
		if x.AExpr.Kind == pg_query.A_Expr_Kind_AEXPR_NULLIF {
			return "nullif", 2, true
		}
	case *pg_query.Node_TypeCast:
		name, strength, certain := s.figure(x.TypeCast.Arg)
		if strength <= 1 {
			if tn := x.TypeCast.TypeName; tn != nil && len(tn.Names) > 0 {
				return tn.Names[len(tn.Names)-1].GetString_().GetSval(), 1, certain
			}
		}
		return name, strength, certain
	case *pg_query.Node_CollateClause:
		return s.figure(x.CollateClause.Arg)
	case *pg_query.Node_GroupingFunc:
		return "grouping", 2, true
	case *pg_query.Node_MergeSupportFunc:
		return "merge_action", 2, true
	case *pg_query.Node_SubLink:
		switch x.SubLink.SubLinkType {
		case pg_query.SubLinkType_EXISTS_SUBLINK:
			return "exists", 2, true
		case pg_query.SubLinkType_ARRAY_SUBLINK:
			return "array", 2, true
		case pg_query.SubLinkType_EXPR_SUBLINK:
			// The subquery's single output column's name.
			if l := s.sublinks[x.SubLink]; l != nil && len(l.outs) > 0 {
				return l.outs[0].name, 2, l.outsKnown
			}
			return "", 0, false
		}
	case *pg_query.Node_CaseExpr:
		name, strength, certain := s.figure(x.CaseExpr.Defresult)
		if strength <= 1 {
			return "case", 1, certain
		}
		return name, strength, certain
	case *pg_query.Node_AArrayExpr:
		return "array", 2, true
	case *pg_query.Node_RowExpr:
		return "row", 2, true
	case *pg_query.Node_CoalesceExpr:
		return "coalesce", 2, true
	case *pg_query.Node_MinMaxExpr:
		switch x.MinMaxExpr.Op {
		case pg_query.MinMaxOp_IS_GREATEST:
			return "greatest", 2, true
		case pg_query.MinMaxOp_IS_LEAST:
			return "least", 2, true
		}
		return "", 0, false
	case *pg_query.Node_SqlvalueFunction:
		if name, ok := sqlValueNames[x.SqlvalueFunction.Op]; ok {
			return name, 2, true
		}
		return "", 0, false
	case *pg_query.Node_XmlExpr:
		if x.XmlExpr.Op == pg_query.XmlExprOp_IS_DOCUMENT {
			return "", 0, true
		}
		if name, ok := xmlNames[x.XmlExpr.Op]; ok {
			return name, 2, true
		}
		return "", 0, false
	case *pg_query.Node_XmlSerialize:
		return "xmlserialize", 2, true
	case *pg_query.Node_JsonParseExpr:
		return "json", 2, true
	case *pg_query.Node_JsonScalarExpr:
		return "json_scalar", 2, true
	case *pg_query.Node_JsonSerializeExpr:
		return "json_serialize", 2, true
	case *pg_query.Node_JsonObjectConstructor:
		return "json_object", 2, true
	case *pg_query.Node_JsonArrayConstructor, *pg_query.Node_JsonArrayQueryConstructor:
		return "json_array", 2, true
	case *pg_query.Node_JsonObjectAgg:
		return "json_objectagg", 2, true
	case *pg_query.Node_JsonArrayAgg:
		return "json_arrayagg", 2, true
	case *pg_query.Node_JsonFuncExpr:
		switch x.JsonFuncExpr.Op {
		case pg_query.JsonExprOp_JSON_EXISTS_OP:
			return "json_exists", 2, true
		case pg_query.JsonExprOp_JSON_QUERY_OP:
			return "json_query", 2, true
		case pg_query.JsonExprOp_JSON_VALUE_OP:
			return "json_value", 2, true
		}
		return "", 0, false
	case *pg_query.Node_AConst, *pg_query.Node_ParamRef, *pg_query.Node_BoolExpr,
		*pg_query.Node_NullTest, *pg_query.Node_BooleanTest, *pg_query.Node_AStar,
		*pg_query.Node_SetToDefault, *pg_query.Node_JsonIsPredicate:
		return "", 0, true // nameless: ?column?
	default:
		return "", 0, false
	}
	return "", 0, true
}

var sqlValueNames = map[pg_query.SQLValueFunctionOp]string{
	pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE:        "current_date",
	pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME:        "current_time",
	pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N:      "current_time",
	pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP:   "current_timestamp",
	pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N: "current_timestamp",
	pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME:           "localtime",
	pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME_N:         "localtime",
	pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP:      "localtimestamp",
	pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:    "localtimestamp",
	pg_query.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:        "current_role",
	pg_query.SQLValueFunctionOp_SVFOP_CURRENT_USER:        "current_user",
	pg_query.SQLValueFunctionOp_SVFOP_USER:                "user",
	pg_query.SQLValueFunctionOp_SVFOP_SESSION_USER:        "session_user",
	pg_query.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:     "current_catalog",
	pg_query.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:      "current_schema",
}

var xmlNames = map[pg_query.XmlExprOp]string{
	pg_query.XmlExprOp_IS_XMLCONCAT:    "xmlconcat",
	pg_query.XmlExprOp_IS_XMLELEMENT:   "xmlelement",
	pg_query.XmlExprOp_IS_XMLFOREST:    "xmlforest",
	pg_query.XmlExprOp_IS_XMLPARSE:     "xmlparse",
	pg_query.XmlExprOp_IS_XMLPI:        "xmlpi",
	pg_query.XmlExprOp_IS_XMLROOT:      "xmlroot",
	pg_query.XmlExprOp_IS_XMLSERIALIZE: "xmlserialize",
}
