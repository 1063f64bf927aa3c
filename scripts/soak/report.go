package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/custodes/custodes/internal/deployment"
	"github.com/custodes/custodes/report"
	"github.com/custodes/custodes/translog"
)

// computeReport computes the transparency report of the whole log, as
// `custodes report --format json` does, bounded to 10 minutes.
func computeReport(ctx context.Context, d *deployment.Deployment) (*report.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	src, err := translog.OpenSource(d.LogDir())
	if err != nil {
		return nil, err
	}
	return report.Compute(ctx, src, d.LogKey, report.Options{})
}

// compareReport checks the report counts what the load did: statements
// allowed and denied, denials by rule, by unit, and the suspensions.
func compareReport(c *checklist, t *tally, r *report.Report) {
	allowed, denied := t.statements()
	c.add("report: statements allowed", r.Statements.Allowed == allowed, fmt.Sprintf("report %d, load %d", r.Statements.Allowed, allowed))
	c.add("report: statements denied", r.Statements.Denied == denied, fmt.Sprintf("report %d, load %d", r.Statements.Denied, denied))

	got := map[string]uint64{}
	for _, rc := range r.Statements.DenialsByRule {
		got[rc.Rule] = rc.Count
	}
	rules := slices.Sorted(maps.Keys(got))
	for r := range t.byRule {
		if !slices.Contains(rules, r) {
			rules = append(rules, r)
		}
	}
	slices.Sort(rules)
	var diff, same []string
	for _, rule := range rules {
		if got[rule] != t.byRule[rule] {
			diff = append(diff, fmt.Sprintf("%s: report %d, load %d", rule, got[rule], t.byRule[rule]))
		} else {
			same = append(same, fmt.Sprintf("%s %d", rule, got[rule]))
		}
	}
	c.add("report: denials by rule", len(diff) == 0, strings.Join(append(diff, same...), ", "))

	diff, same = nil, nil
	seen := map[string]bool{}
	for _, u := range r.Statements.ByUnit {
		seen[u.Unit] = true
		if u.Allowed != t.allowed[u.Unit] || u.Denied != t.denied[u.Unit] {
			diff = append(diff, fmt.Sprintf("%s: report %d/%d, load %d/%d", u.Unit, u.Allowed, u.Denied, t.allowed[u.Unit], t.denied[u.Unit]))
		} else {
			same = append(same, fmt.Sprintf("%s %d/%d", u.Unit, u.Allowed, u.Denied))
		}
	}
	for _, u := range []string{"newark", "houston"} {
		if !seen[u] {
			diff = append(diff, u+": not in the report")
		}
	}
	c.add("report: allowed/denied by unit", len(diff) == 0, strings.Join(append(diff, same...), ", "))
	c.add("report: suspensions and resumptions", r.Suspensions.Suspensions == t.cycles && r.Suspensions.Resumptions == t.cycles,
		fmt.Sprintf("report %d/%d, load %d cycles", r.Suspensions.Suspensions, r.Suspensions.Resumptions, t.cycles))
	c.add("report: the log's size", true, fmt.Sprintf("%d entries, %d statements", r.Checkpoint.Size, r.Statements.Total))
}
