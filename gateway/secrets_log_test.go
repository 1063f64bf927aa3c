//go:build linux

package gateway_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/custodes/custodes/internal/teststack"
)

// TestNoSecretsInLogs: after a failed login, a denial and a lost backend
// (each logged), the operator's log, at every level down to debug, holds
// none of the deployment's secrets: database passwords, the operator
// token, the signing, sealing and approver keys, the sessions' scope keys,
// the analyst's password.
func TestNoSecretsInLogs(t *testing.T) {
	st := teststack.Start(t, 200)
	ctx := context.Background()
	admin := st.Admin(t)

	// A wrong password.
	cfg, _ := pgx.ParseConfig(st.URL("alice"))
	cfg.Password = "not-alices-password"
	if c, err := pgx.ConnectConfig(ctx, cfg); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong password was accepted")
	}
	// A denial, and a session whose backend is lost while its scope is set.
	c := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	if _, err := c.Exec(ctx, "SELECT pg_read_file('/etc/hostname')"); err == nil {
		t.Fatal("pg_read_file was allowed")
	}
	rows, _ := admin.Query(ctx, "SELECT key FROM custodes_scope.sessions")
	scopeKeys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(scopeKeys) == 0 {
		t.Fatalf("scope keys: %v %v", scopeKeys, err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", roleOf(t, st.Config.Backend.URL)); err != nil {
		t.Fatal(err)
	}
	c.Exec(ctx, "SELECT full_name FROM persons WHERE person_id = 101") // the session ends

	secrets := map[string]string{"the analyst's wrong password": cfg.Password, "the operator token": st.Token}
	for name, u := range map[string]string{"backend": st.Config.Backend.URL, "control": st.Config.Control.URL, "admin": st.AdminURL} {
		p, _ := url.Parse(u)
		pw, _ := p.User.Password()
		secrets[name+" password"] = pw
	}
	for _, f := range []string{"log.key", "overseer.key", "approver.key"} {
		b, err := os.ReadFile(filepath.Join(st.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		// An age identity whole; of a note signer key
		// (PRIVATE+KEY+name+hash+key), its key.
		k := strings.TrimSpace(string(b))
		if parts := strings.SplitN(k, "+", 5); len(parts) == 5 && parts[0] == "PRIVATE" {
			k = parts[4]
		}
		secrets[f] = k
	}
	for i, k := range scopeKeys {
		secrets[fmt.Sprintf("scope key %d", i)] = k
	}
	logged := st.LoggedAll()
	if !strings.Contains(st.Logged(), "alice") {
		t.Fatalf("the failed login is not in the log, so this test shows nothing:\n%s", logged)
	}
	// The info level says what setup and start-up did (what is logged at
	// debug comes and goes with timing: it is looked through when there).
	for _, want := range []string{"level=INFO", "log open", "roles ready"} {
		if !strings.Contains(logged, want) {
			t.Fatalf("the log has no %q, so this test shows nothing about it:\n%s", want, logged)
		}
	}
	for name, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("%s is too short to look for: %q", name, s)
		}
		if strings.Contains(logged, s) {
			t.Errorf("the log holds %s", name)
		}
	}
	t.Logf("%d lines of log, none holding a secret", strings.Count(logged, "\n"))
}
