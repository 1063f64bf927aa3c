package analysis

import (
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// The C parser builds a chain of left-associative operators and postfix
// tests (a+a+..., x::t::t..., a IS TRUE IS TRUE..., a IN (1) IN (1)...,
// t JOIN t JOIN t..., ... UNION ...) as a tree as deep as the chain is long,
// without growing its own parse stack; converting that tree to protobuf then
// recurses once per level and overflows the thread's C stack somewhere past
// 20,000 levels. That is a SIGSEGV that kills the whole gateway, so no input
// may get there. (Nesting by parentheses, CASE, subqueries and the like is
// bounded by the parser's stack, which fails safely: "memory exhausted".)
// Trees deeper than about 5,000 levels fail later anyway, in protobuf's
// recursion limit, so refusing them first costs nothing.

const (
	// Each chain level takes at least two bytes ("+1"), so a shorter
	// string cannot be deep enough to matter and skips the scan.
	depthCheckBytes = 8192
	// maxDepth bounds the estimate below, far under the crash.
	maxDepth = 2000
)

// checkDepth estimates, from PostgreSQL's own scanner's tokens, how deep the
// parse tree of sql can be, and refuses strings whose estimate is too high.
// It counts every token except names, constants and the keywords listed in
// flatTokens, summed along the current nesting of brackets and CASEs. Deny
// by default: a token not known to be harmless counts.
//
// To let long flat lists through, a comma, AND, OR, WHEN, THEN or ELSE ends
// an operand at its level (list items and CASE arms are siblings; AND and OR
// lists are flat), except that the AND of a BETWEEN continues its operand,
// and JOIN, UNION, INTERSECT and EXCEPT, whose chains run across such
// separators (t JOIN t ON a AND b JOIN ...), are counted apart and kept to
// the end of the level.
func checkDepth(sql string) error {
	if len(sql) < depthCheckBytes {
		return nil
	}
	scan, err := pg_query.Scan(sql)
	if err != nil {
		return fmt.Errorf("couldn't scan SQL: %w", err)
	}
	type level struct {
		expr    int  // tokens counted in the current operand
		rel     int  // JOIN and set operations at this level
		between int  // BETWEENs still waiting for their AND
		cse     bool // opened by CASE rather than a bracket
	}
	levels := make([]level, 1, 64)
	sum := 0 // of expr+rel over levels
	pop := func() {
		l := levels[len(levels)-1]
		sum -= l.expr + l.rel
		levels = levels[:len(levels)-1]
	}
	for _, t := range scan.Tokens {
		top := &levels[len(levels)-1]
		switch t.Token {
		case pg_query.Token_ASCII_40, pg_query.Token_ASCII_91, pg_query.Token_CASE: // ( [ CASE
			levels = append(levels, level{cse: t.Token == pg_query.Token_CASE})
		case pg_query.Token_ASCII_41, pg_query.Token_ASCII_93: // ) ]
			for len(levels) > 1 {
				cse := levels[len(levels)-1].cse
				pop()
				if !cse {
					break
				}
			}
		case pg_query.Token_END_P:
			if top.cse {
				pop()
			} else { // END of BEGIN ATOMIC, or the END statement
				sum -= top.expr
				top.expr, top.between = 0, 0
			}
		case pg_query.Token_ASCII_59: // ;
			sum -= top.expr + top.rel
			*top = level{cse: top.cse}
		case pg_query.Token_AND:
			if top.between > 0 {
				top.between--
				top.expr++
				sum++
				break
			}
			fallthrough
		case pg_query.Token_ASCII_44, pg_query.Token_OR, // ,
			pg_query.Token_WHEN, pg_query.Token_THEN, pg_query.Token_ELSE:
			sum -= top.expr
			top.expr, top.between = 0, 0
		case pg_query.Token_JOIN, pg_query.Token_UNION, pg_query.Token_INTERSECT, pg_query.Token_EXCEPT:
			top.rel++
			sum++
		case pg_query.Token_BETWEEN:
			top.between++
			top.expr++
			sum++
		default:
			if flatTokens[t.Token] {
				continue
			}
			top.expr++
			sum++
		}
		if sum+len(levels) > maxDepth {
			return fmt.Errorf("couldn't parse SQL: it nests deeper than the %d levels this analyser accepts", maxDepth)
		}
	}
	return nil
}

// flatTokens never make a chain: names, constants, punctuation inside
// names and arguments, and clause keywords.
var flatTokens = map[pg_query.Token]bool{
	pg_query.Token_IDENT: true, pg_query.Token_UIDENT: true, pg_query.Token_ICONST: true,
	pg_query.Token_FCONST: true, pg_query.Token_SCONST: true, pg_query.Token_USCONST: true,
	pg_query.Token_BCONST: true, pg_query.Token_XCONST: true, pg_query.Token_PARAM: true,
	pg_query.Token_SQL_COMMENT: true, pg_query.Token_C_COMMENT: true,
	pg_query.Token_ASCII_46: true, pg_query.Token_ASCII_58: true, // . :
	pg_query.Token_DOT_DOT: true, pg_query.Token_COLON_EQUALS: true, pg_query.Token_EQUALS_GREATER: true,
	pg_query.Token_SELECT: true, pg_query.Token_FROM: true, pg_query.Token_WHERE: true,
	pg_query.Token_AS: true, pg_query.Token_ON: true, pg_query.Token_BY: true,
	pg_query.Token_GROUP_P: true, pg_query.Token_ORDER: true, pg_query.Token_HAVING: true,
	pg_query.Token_LIMIT: true, pg_query.Token_OFFSET: true, pg_query.Token_DISTINCT: true,
	pg_query.Token_ASC: true, pg_query.Token_DESC: true, pg_query.Token_NULLS_P: true,
	pg_query.Token_FIRST_P: true, pg_query.Token_LAST_P: true, pg_query.Token_TRUE_P: true,
	pg_query.Token_FALSE_P: true, pg_query.Token_NULL_P: true, pg_query.Token_VALUES: true,
	pg_query.Token_WITH: true, pg_query.Token_INTO: true, pg_query.Token_SET: true,
	pg_query.Token_RETURNING: true,
}
