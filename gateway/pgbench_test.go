package gateway_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/pgcluster"
)

// TestPgbench drives the gateway with the real pgbench in each query mode:
// a targeted read under a warrant, every transaction judged and recorded.
func TestPgbench(t *testing.T) {
	bin, err := pgcluster.FindBinaries("")
	if err != nil {
		t.Skip("no PostgreSQL binaries:", err)
	}
	// pgbench sits beside the real server binaries, which PATH may only
	// link to.
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		real, _ := filepath.EvalSymlinks(filepath.Join(bin, "initdb"))
		pgbench = filepath.Join(filepath.Dir(real), "pgbench")
		if _, err := os.Stat(pgbench); err != nil {
			t.Skip("no pgbench on PATH or beside the server binaries")
		}
	}
	st := teststack.Start(t, 2500)
	script := filepath.Join(t.TempDir(), "read.sql")
	os.WriteFile(script, []byte("\\set id random(101, 103)\nSELECT full_name FROM persons WHERE person_id = :id;\n"), 0o644)
	host, port, _ := strings.Cut(st.Addr, ":")
	done := regexp.MustCompile(`number of transactions actually processed: (\d+)/(\d+)`)
	for _, mode := range []string{"simple", "extended", "prepared"} {
		cmd := exec.Command(pgbench, "-n", "-h", host, "-p", port, "-U", "alice", "-M", mode,
			"-f", script, "-c", "4", "-t", "25", st.Config.BackendDatabase())
		cmd.Env = append(os.Environ(), "PGPASSWORD=alice", "PGOPTIONS=-c custodes.authority=W-DEMO-1")
		out, err := cmd.CombinedOutput()
		m := done.FindStringSubmatch(string(out))
		if err != nil || m == nil || m[1] != m[2] || m[1] != "100" {
			t.Fatalf("pgbench -M %s: %v\n%s", mode, err, out)
		}
	}
	// pgbench's own tables are not registered datasets: its default script
	// is refused, not run.
	cmd := exec.Command(pgbench, "-n", "-h", host, "-p", port, "-U", "alice", "-S", "-t", "1", st.Config.BackendDatabase())
	cmd.Env = append(os.Environ(), "PGPASSWORD=alice")
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "denied by AUP-2") {
		t.Fatalf("pgbench -S against unregistered tables:\n%s", out)
	}
}
