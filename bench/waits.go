package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custodes/custodes/internal/deployment"
)

// sampleWaits samples, every 100 ms for d, what the active backends of
// the agency and control databases are waiting for (pg_stat_activity),
// counting "database | wait | statement" over all samples.
func sampleWaits(ctx context.Context, dp *deployment.Deployment, d time.Duration) (map[string]int, int) {
	waits := map[string]int{}
	conn, err := pgx.Connect(ctx, dp.Cluster.SuperuserURL("postgres"))
	if err != nil {
		return waits, 0
	}
	defer conn.Close(context.Background())
	samples := 0
	for end := time.Now().Add(d); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		rows, err := conn.Query(ctx, `
			SELECT datname || ' | ' || coalesce(wait_event_type || '/' || wait_event, 'running') || ' | ' ||
			       left(regexp_replace(query, '\s+', ' ', 'g'), 60)
			FROM pg_stat_activity
			WHERE datname = ANY ($1) AND state = 'active' AND pid <> pg_backend_pid()`,
			[]string{agencyDB, controlDB})
		if err != nil {
			return waits, samples
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return waits, samples
		}
		for _, k := range keys {
			waits[k]++
		}
		samples++
	}
	return waits, samples
}

// printWaits prints the most frequent waits, and all of them to file.
func printWaits(file string, waits map[string]int, samples int) {
	type kv struct {
		k string
		n int
	}
	var all []kv
	total := 0
	for k, n := range waits {
		all = append(all, kv{k, n})
		total += n
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.k, b.k)) })
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples of pg_stat_activity, %d active backends seen (%.1f per sample)\n", samples, total, float64(total)/float64(max(samples, 1)))
	for _, w := range all {
		fmt.Fprintf(&b, "%6d  %s\n", w.n, w.k)
	}
	os.WriteFile(file, []byte(b.String()), 0o644)
	lines := strings.SplitN(b.String(), "\n", 7)
	say("  backends' waits (%s):\n    %s", file, strings.Join(lines[:min(len(lines), 6)], "\n    "))
}
