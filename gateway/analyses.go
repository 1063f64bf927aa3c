package gateway

import (
	"sync"

	"github.com/custodes/custodes/analysis"
)

// analyses remembers the analysis of recent statement texts. Analysis is a
// pure function of the text and the catalog, and the catalog is fixed for
// the Server's life, so the same text always analyses the same: a repeated
// simple-protocol query (an application's, a tool's) is parsed once, not
// once per execution. Judgment is not cached — authority, suspension and
// coverage are per session and per moment. Statements handed out are
// shared and must not be modified (the gateway copies before changing
// one).
//
// It owns its map; mu guards it.
type analyses struct {
	mu sync.Mutex
	m  map[string]analysed
}

type analysed struct {
	stmts []*analysis.Statement
	err   error
}

const (
	// maxAnalyses bounds the texts remembered; when full, the map starts
	// afresh (simpler than LRU, and a working set beyond it is not
	// repetitive anyway).
	maxAnalyses = 4096
	// maxAnalysedText bounds the texts remembered: long ones are rarely
	// repeated and would make the cache's memory unbounded in practice.
	maxAnalysedText = 4096
)

func (a *analyses) analyze(text string, cat analysis.Catalog) ([]*analysis.Statement, error) {
	if len(text) > maxAnalysedText {
		return analysis.AnalyzeWith(text, cat)
	}
	a.mu.Lock()
	r, ok := a.m[text]
	a.mu.Unlock()
	if ok {
		return r.stmts, r.err
	}
	stmts, err := analysis.AnalyzeWith(text, cat)
	a.mu.Lock()
	if a.m == nil || len(a.m) >= maxAnalyses {
		a.m = make(map[string]analysed, 256)
	}
	a.m[text] = analysed{stmts, err}
	a.mu.Unlock()
	return stmts, err
}
