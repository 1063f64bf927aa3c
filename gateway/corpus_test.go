package gateway_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/custodes/custodes/internal/teststack"
)

func TestCorpusPeek(t *testing.T) {
	st := teststack.Start(t, 2500)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, st.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT person_id, (SELECT count(*) FROM location_pings l WHERE l.person_id=p.person_id), (SELECT count(*) FROM social_posts l WHERE l.person_id=p.person_id), (SELECT count(*) FROM case_files l WHERE l.person_id=p.person_id), (SELECT count(*) FROM utility_accounts l WHERE l.person_id=p.person_id) FROM persons p WHERE person_id IN (1,2,3,4,5,6,7,8,10,11,12,13,14,20,21,22,101,102,103,2001)",
		"SELECT min(lat), max(lat), min(lon), max(lon), min(observed_at)::text, max(observed_at)::text, count(*) FROM location_pings",
		"SELECT religion, count(*) FROM persons GROUP BY 1",
		"SELECT ethnicity, count(*) FROM persons GROUP BY 1",
		"SELECT topic, count(*) FROM social_posts GROUP BY 1",
		"SELECT source, count(*) FROM location_pings GROUP BY 1",
		"SELECT status, count(*) FROM case_files GROUP BY 1",
		"SELECT city, count(*) FROM addresses GROUP BY 1 ORDER BY 2 DESC LIMIT 5",
		"SELECT count(*) FROM addresses",
		"SELECT provider, count(*) FROM utility_accounts GROUP BY 1",
		"SELECT extname FROM pg_extension",
	} {
		rows, _ := admin.Query(ctx, q, pgx.QueryExecModeSimpleProtocol)
		for rows.Next() {
			v, _ := rows.Values()
			t.Log(v)
		}
		t.Log(rows.Err(), "----")
	}
}
