package demodata

import (
	"context"
	"errors"
	"testing"

	"github.com/custodes/custodes/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

const testPersons = 3000

func TestCreate(t *testing.T) {
	ctx := t.Context()
	conn := connect(t)
	var last, total, calls int64
	loaded, err := Create(ctx, conn, testPersons, func(done, tot int64) {
		if done < last || (total != 0 && tot != total) {
			t.Errorf("progress went from %d/%d to %d/%d", last, total, done, tot)
		}
		last, total = done, tot
		calls++
	})
	if err != nil {
		t.Fatal(err)
	}
	if !loaded {
		t.Fatal("Create on an empty database reported it loaded nothing")
	}
	if calls < 2 || last != total {
		t.Errorf("progress called %d times, last with %d/%d", calls, last, total)
	}

	counts := map[string][2]int64{ // plausible row counts for 3000 persons
		"persons":          {testPersons, testPersons},
		"addresses":        {testPersons / 2, testPersons / 2},
		"location_pings":   {3 * testPersons, 8 * testPersons},
		"utility_accounts": {testPersons * 8 / 10, testPersons * 2},
		"social_posts":     {testPersons / 20, testPersons},
		"case_files":       {testPersons / 100, testPersons / 10},
	}
	var sum int64
	for tb, want := range counts {
		var got int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM public."+tb).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got < want[0] || got > want[1] {
			t.Errorf("%s has %d rows, want %d–%d", tb, got, want[0], want[1])
		}
		sum += got
	}
	if sum != total {
		t.Errorf("tables hold %d rows, progress promised %d", sum, total)
	}

	// Warrant subjects are in every dataset (2001 ≤ 3000, so it too).
	for _, d := range Datasets() {
		if d.SubjectKey == "" {
			continue
		}
		var n int
		q := "SELECT count(DISTINCT " + d.SubjectKey + ") FROM " + d.Table + " WHERE " + d.SubjectKey + " IN (101, 102, 103, 2001)"
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 4 {
			t.Errorf("%s has rows about %d of the 4 warrant subjects", d.Table, n)
		}
	}

	// The indexes the brief asks for exist, and the planner has statistics.
	for _, idx := range []string{"location_pings_person_id_idx", "location_pings_observed_at_idx",
		"utility_accounts_person_id_idx", "social_posts_person_id_idx", "case_files_person_id_idx"} {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass('public.' || $1) IS NOT NULL", idx).Scan(&ok); err != nil || !ok {
			t.Errorf("index %s missing (%v)", idx, err)
		}
	}
	var columnsWithStats int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'location_pings'").Scan(&columnsWithStats); err != nil || columnsWithStats == 0 {
		t.Errorf("location_pings has no planner statistics (%v)", err)
	}

	// Foreign keys hold: the database refuses a ping about no one.
	if _, err := conn.Exec(ctx, "INSERT INTO public.location_pings VALUES (0, $1, now(), 0, 0, 'test')", testPersons+1); err == nil {
		t.Error("a ping about a person who does not exist was accepted")
	}

	loaded, err = Create(ctx, conn, testPersons, func(done, total int64) { t.Errorf("progress called on a second Create") })
	if err != nil {
		t.Fatal(err)
	}
	if loaded {
		t.Error("second Create reported it loaded data again")
	}
	var persons int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM public.persons").Scan(&persons); err != nil || persons != testPersons {
		t.Errorf("after a second Create, %d persons (%v)", persons, err)
	}
}

func TestCreateDeterministic(t *testing.T) {
	ctx := t.Context()
	digest := func() (out string) {
		conn := connect(t)
		if _, err := Create(ctx, conn, testPersons, nil); err != nil {
			t.Fatal(err)
		}
		const q = "SELECT md5(string_agg(t::text, ',' ORDER BY 1)) FROM persons t"
		if err := conn.QueryRow(ctx, q).Scan(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if a, b := digest(), digest(); a != b {
		t.Errorf("two databases loaded with %d persons differ: md5 %s and %s", testPersons, a, b)
	}
}

func TestCreateInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	conn := connect(t)
	_, err := Create(ctx, conn, testPersons, func(done, total int64) {
		if done > 0 {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("Create cancelled during the load returned no error")
	}
	if !errors.Is(err, context.Canceled) {
		t.Logf("error (not context.Canceled): %v", err)
	}

	// A cancelled query may have closed the connection; look with a fresh one.
	conn2, err := pgx.Connect(t.Context(), conn.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(context.Background())
	var exists bool
	if err := conn2.QueryRow(t.Context(), "SELECT to_regclass('public.persons') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("an interrupted Create left the persons table behind")
	}
	loaded, err := Create(t.Context(), conn2, testPersons, nil)
	if err != nil || !loaded {
		t.Errorf("Create after an interrupted one: loaded=%v, err=%v", loaded, err)
	}
}

func TestCreateRejectsNoPersons(t *testing.T) {
	if _, err := Create(t.Context(), nil, 0, nil); err == nil {
		t.Error("Create with 0 persons succeeded")
	}
}
