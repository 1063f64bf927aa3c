package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/pgtest"
	"github.com/custodes/custodes/report"
	"github.com/custodes/custodes/translog"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// connect opens an analyst's session through the gateway.
func connect(t *testing.T, st *teststack.Stack, user, options string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(st.URL(user))
	if err != nil {
		t.Fatal(err)
	}
	if options != "" {
		cfg.RuntimeParams["options"] = options
	}
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// run sends one statement in the simple protocol and reads its rows.
func run(c *pgx.Conn, sql string) (rows int, err error) {
	res, err := c.PgConn().Exec(context.Background(), sql).ReadAll()
	for _, r := range res {
		rows += len(r.Rows)
	}
	return rows, err
}

// denied says which rule denied err ("" if err is not a denial) and the
// entry it names.
func denied(err error) (rule string, entry int64) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		return "", -1
	}
	if m := regexp.MustCompile(`denied by (AUP-\d+)`).FindStringSubmatch(pe.Message); m != nil {
		rule = m[1]
	}
	entry = -1
	if m := regexp.MustCompile(`recorded as entry (\d+)`).FindStringSubmatch(pe.Detail); m != nil {
		entry, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return rule, entry
}

func wantDenied(t *testing.T, err error, rule string) int64 {
	t.Helper()
	got, entry := denied(err)
	if got != rule {
		t.Fatalf("got %v, want a denial by %s", err, rule)
	}
	return entry
}

func wantRows(t *testing.T, c *pgx.Conn, sql string, n int) {
	t.Helper()
	got, err := run(c, sql)
	if err != nil || got != n {
		t.Fatalf("%s: %d rows, %v; want %d rows", sql, got, err, n)
	}
}

// workload runs statements of both units and returns how many.
func workload(t *testing.T, st *teststack.Stack) int {
	t.Helper()
	alice := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	carol := connect(t, st, "carol", "-c custodes.authority=W-DEMO-3")
	wantRows(t, alice, "SELECT full_name FROM persons WHERE person_id = 101", 1)
	wantRows(t, alice, "SELECT full_name FROM persons WHERE person_id IN (102, 103)", 2)
	_, err := run(alice, "COPY persons TO STDOUT")
	wantDenied(t, err, "AUP-7")
	_, err = run(alice, "SELECT religion FROM persons WHERE person_id = 101")
	wantDenied(t, err, "AUP-5")
	wantRows(t, carol, "SELECT full_name FROM persons WHERE person_id = 2001", 1)
	_, err = run(carol, "SELECT full_name FROM persons WHERE person_id = 101")
	if err != nil {
		t.Fatalf("carol's read outside her warrant: %v (row-level security should give 0 rows)", err)
	}
	return 6
}

// settled waits until the log's checkpoint covers statements statements
// and returns the report computed from the log directory.
func settled(t *testing.T, st *teststack.Stack, statements int) *report.Report {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		src, err := translog.OpenSource(st.LogDir)
		if err != nil {
			t.Fatal(err)
		}
		r, err := report.Compute(context.Background(), src, st.VKey, report.Options{})
		if err == nil && r.Statements.Total >= uint64(statements) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log did not record %d statements in time: %v, %+v", statements, err, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func wantContains(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("%s does not contain %q", what, s)
		}
	}
}

// apiGet reads the operator's JSON API with the bearer token.
func apiGet(t *testing.T, st *teststack.Stack, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base(st)+path, nil)
	req.Header.Set("Authorization", "Bearer "+st.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	return m[1]
}

func base(st *teststack.Stack) string { return fmt.Sprintf("http://%s", st.HTTP) }
