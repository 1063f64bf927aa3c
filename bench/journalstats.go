package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// journalStats are the gateway's journal histograms' sums and counts
// (custodes_log_journal_sync_seconds, custodes_log_journal_group_entries),
// read from its /metrics: each statement waits for one journal fdatasync,
// so their means are the floor under its latency.
type journalStats struct {
	syncSum, syncs, groupSum float64
}

// readJournalStats scrapes d's /metrics with the operator token.
func readJournalStats(ctx context.Context, d *deployment) (journalStats, error) {
	var js journalStats
	token, err := os.ReadFile(d.cfg.Path(d.cfg.OperatorTokenFile))
	if err != nil {
		return js, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+d.cfg.HTTP+"/metrics", nil)
	if err != nil {
		return js, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return js, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return js, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "custodes_log_journal_sync_seconds_sum":
			js.syncSum = v
		case "custodes_log_journal_sync_seconds_count":
			js.syncs = v
		case "custodes_log_journal_group_entries_sum":
			js.groupSum = v
		}
	}
	return js, sc.Err()
}

// since describes the journal's work between two scrapes.
func (js journalStats) since(before journalStats) string {
	n := js.syncs - before.syncs
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("  journal: %.0f fdatasyncs, mean %.2f ms, %.1f entries each", n, (js.syncSum-before.syncSum)/n*1e3, (js.groupSum-before.groupSum)/n)
}
