package gateway_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodes/custodes/cli"
	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/internal/teststack"
)

// TestAuthorityLifecycle issues an authority with the approver's command,
// uses it, lists it, revokes it — the open session loses it at once — and
// shows a forged authority is never honoured.
func TestAuthorityLifecycle(t *testing.T) {
	st := teststack.Start(t, 2500)
	ctx := context.Background()
	cfg := filepath.Join(st.Dir, "custodes.yaml")
	key := filepath.Join(st.Dir, "approver.key")
	os.WriteFile(key, []byte(st.ApproverKey+"\n"), 0o600)
	run := func(args ...string) (string, int) {
		var out bytes.Buffer
		code := cli.Main(args, &out, &out)
		return out.String(), code
	}
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	out, code := run("authority", "issue", "--config", cfg, "--approver-key", key, "--id", "W-NEW-7", "--kind", "judicial_warrant",
		"--reference", "CR-7", "--unit", "newark", "--datasets", "public.persons,public.case_files", "--subjects", "7", "--not-after", until)
	if code != 0 || !strings.Contains(out, "authority W-NEW-7 issued to unit newark, recorded as entry") {
		t.Fatalf("issue: %d %s", code, out)
	}
	if out, code := run("authority", "issue", "--config", cfg, "--approver-key", key, "--id", "W-BAD", "--kind", "hunch",
		"--reference", "x", "--unit", "newark", "--datasets", "*", "--subjects", "7", "--not-after", until); code == 0 || !strings.Contains(out, "kind") {
		t.Fatalf("a bad kind: %d %s", code, out)
	}
	out, code = run("authority", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "W-NEW-7") || !strings.Contains(out, "1 subjects") {
		t.Fatalf("list: %d %s", code, out)
	}

	alice := connect(t, st, "alice", "-c custodes.authority=W-NEW-7")
	if got := ids(t, alice, "SELECT person_id FROM persons"); len(got) != 1 || got[0] != 7 {
		t.Fatalf("under W-NEW-7: %v", got)
	}
	out, code = run("authority", "revoke", "--config", cfg, "--approver-key", key, "--id", "W-NEW-7", "--reason", "case closed")
	if code != 0 || !strings.Contains(out, "revoked, recorded as entry") {
		t.Fatalf("revoke: %d %s", code, out)
	}
	wantDenied(t, simple(alice, "SELECT person_id FROM persons"), "AUP-1")
	wantDenied(t, simple(alice, "SET custodes.authority = 'W-NEW-7'"), "AUP-1")

	// An authority written straight into the control database, without an
	// approver's signature, is not an authority.
	forged := &control.Authority{ID: "W-FORGED", Kind: "judicial_warrant", Reference: "none", Tenant: "agency", Unit: "newark",
		Datasets: []string{"*"}, Subjects: []int64{5, 6}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		Approver: "test-approver", Signature: []byte("not a signature")}
	if _, err := st.Service.Control().InsertAuthority(ctx, forged); err != nil {
		t.Fatal(err)
	}
	bob := connect(t, st, "bob", "")
	wantDenied(t, simple(bob, "SET custodes.authority = 'W-FORGED'"), "AUP-1")
}
