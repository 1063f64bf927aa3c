package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodes/custodes/cli"
	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

// TestSuspendUnit switches unit newark off with the operator's command while
// alice has a session open: her next statement is denied by AUP-8, carol's
// unit is untouched, and resuming restores access — all on the record.
func TestSuspendUnit(t *testing.T) {
	st := teststack.Start(t, 2500)
	alice := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	carol := connect(t, st, "carol", "-c custodes.authority=W-DEMO-3")
	if got := names(t, alice, "SELECT full_name FROM persons WHERE person_id = $1", 101); len(got) != 1 {
		t.Fatalf("before: %v", got)
	}
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := cli.Main(args, &out, &errb)
		return out.String() + errb.String(), code
	}
	cfg := filepath.Join(st.Dir, "custodes.yaml")
	out, code := run("suspend", "--config", cfg, "--tenant", "agency", "--unit", "newark", "--reason", "press report: bulk location queries")
	if code != 0 || !strings.Contains(out, "unit newark of tenant agency: suspended, recorded as entry") {
		t.Fatalf("suspend: %d %s", code, out)
	}
	if out, code := run("suspend", "--config", cfg, "--tenant", "agency", "--unit", "newark", "--reason", "again"); code == 0 || !strings.Contains(out, "suspended already") {
		t.Fatalf("second suspend: %d %s", code, out)
	}
	if out, code := run("suspend", "--config", cfg, "--tenant", "agency", "--unit", "nowhere", "--reason", "x"); code == 0 || !strings.Contains(out, `no unit "nowhere"`) {
		t.Fatalf("unknown unit: %d %s", code, out)
	}
	if _, code := run("suspend", "--config", cfg, "--tenant", "agency", "--unit", "newark"); code != 2 {
		t.Fatalf("suspend without a reason: exit %d, want 2", code)
	}
	rows, err := alice.Query(context.Background(), "SELECT full_name FROM persons WHERE person_id = $1", 101)
	if err == nil {
		for rows.Next() {
			t.Fatal("a row reached a suspended unit")
		}
		err = rows.Err()
	}
	wantDenied(t, err, "AUP-8")
	wantDenied(t, simple(alice, "SELECT city FROM addresses WHERE address_id = 1"), "AUP-8")

	// The operator sees it in the metrics (bearer token), the public does not.
	req, _ := http.NewRequest("GET", "http://"+st.HTTP+"/metrics", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %v %v", resp, err)
	}
	req.Header.Set("Authorization", "Bearer "+st.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`custodes_statements_total{decision="deny",rule="AUP-8"} 2`, `custodes_statements_total{decision="allow",rule=""}`, "custodes_sessions 2", "custodes_log_integrated_entries", "custodes_statement_seconds_bucket", `custodes_coverage_subjects{unit="newark"} 3`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if got := ids(t, carol, "SELECT person_id FROM persons"); len(got) != 1 {
		t.Fatalf("houston during newark's suspension: %v", got)
	}
	out, code = run("resume", "--config", cfg, "--tenant", "agency", "--unit", "newark", "--reason", "review complete")
	if code != 0 || !strings.Contains(out, "resumed") {
		t.Fatalf("resume: %d %s", code, out)
	}
	if got := names(t, alice, "SELECT full_name FROM persons WHERE person_id = $1", 101); len(got) != 1 {
		t.Fatalf("after resume: %v", got)
	}

	time.Sleep(1500 * time.Millisecond)
	src, _ := translog.OpenSource(st.LogDir)
	var reasons []string
	if _, err := translog.Verify(context.Background(), src, st.VKey, translog.VerifyOptions{Entry: func(_ uint64, b []byte) error {
		e, err := record.Parse(b)
		if err != nil {
			return err
		}
		if e.Kind == record.KindSuspension || e.Kind == record.KindResumption {
			for _, a := range e.Attrs {
				if a.Key == "reason" {
					reasons = append(reasons, string(e.Kind)+" "+e.Unit+": "+a.Value)
				}
			}
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"suspension newark: press report: bulk location queries", "resumption newark: review complete"}
	if strings.Join(reasons, "|") != strings.Join(want, "|") {
		t.Fatalf("log records %q, want %q", reasons, want)
	}
}
