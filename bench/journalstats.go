package main

import (
	"context"
	"fmt"

	"github.com/custodes/custodes/internal/deployment"
)

// journalStats are the gateway's journal histograms' sums and counts
// (custodes_log_journal_sync_seconds, custodes_log_journal_group_entries),
// read from its /metrics: each statement waits for one journal fdatasync,
// so their means are the floor under its latency.
type journalStats struct {
	syncSum, syncs, groupSum float64
}

// readJournalStats scrapes d's /metrics.
func readJournalStats(ctx context.Context, d *deployment.Deployment) (journalStats, error) {
	m, err := d.Metrics(ctx, "custodes_log_journal_sync_seconds_sum", "custodes_log_journal_sync_seconds_count", "custodes_log_journal_group_entries_sum")
	if err != nil {
		return journalStats{}, err
	}
	return journalStats{
		syncSum:  m["custodes_log_journal_sync_seconds_sum"],
		syncs:    m["custodes_log_journal_sync_seconds_count"],
		groupSum: m["custodes_log_journal_group_entries_sum"],
	}, nil
}

// since describes the journal's work between two scrapes.
func (js journalStats) since(before journalStats) string {
	n := js.syncs - before.syncs
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("  journal: %.0f fdatasyncs, mean %.2f ms, %.1f entries each", n, (js.syncSum-before.syncSum)/n*1e3, (js.groupSum-before.groupSum)/n)
}
