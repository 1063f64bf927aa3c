package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/custodes/custodes/pgcluster"
)

// tools are the programs the pgbench phase runs. The harness installs
// none of them.
type tools struct {
	pgbench   string
	pgbouncer string
}

// findTools finds pgbench beside the PostgreSQL server binaries (which PATH
// may only link to) and pgbouncer, and names every one that is missing with
// the command that installs it.
func findTools() (*tools, error) {
	var t tools
	var missing []string
	bin, err := pgcluster.FindBinaries("")
	if err != nil {
		return nil, fmt.Errorf("%w: install PostgreSQL's server binaries (apt-get install postgresql)", err)
	}
	if real, err := filepath.EvalSymlinks(filepath.Join(bin, "initdb")); err == nil {
		if p := filepath.Join(filepath.Dir(real), "pgbench"); isExecutable(p) {
			t.pgbench = p
		}
	}
	if t.pgbench == "" {
		if p, err := exec.LookPath("pgbench"); err == nil {
			t.pgbench = p
		} else {
			missing = append(missing, fmt.Sprintf("pgbench (not beside %s nor on PATH): apt-get install postgresql-contrib, or the postgresql package of the server's version", bin))
		}
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		t.pgbouncer = p
	} else if isExecutable("/usr/sbin/pgbouncer") {
		t.pgbouncer = "/usr/sbin/pgbouncer"
	} else {
		missing = append(missing, "pgbouncer (1.18 or later, not on PATH nor /usr/sbin/pgbouncer): apt-get install pgbouncer")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing, and not installed by the harness:\n  %s\n(or leave the pgbench phase out with -skip pgbench)", strings.Join(missing, "\n  "))
	}
	out, err := exec.Command(t.pgbouncer, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("couldn't run %s --version: %w", t.pgbouncer, err)
	}
	if v := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]); !pgbouncerRecent(v) {
		return nil, fmt.Errorf("%s is %q; the baseline is PgBouncer 1.18 or later (apt-get install pgbouncer)", t.pgbouncer, v)
	}
	return &t, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// pgbouncerRecent reads "PgBouncer 1.18.0".
func pgbouncerRecent(v string) bool {
	f := strings.Fields(v)
	if len(f) < 2 {
		return false
	}
	parts := strings.Split(f[1], ".")
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (major > 1 || major == 1 && minor >= 18)
}

// unprivileged is the identity PgBouncer runs as: it refuses to run as
// root, so as root we use the postgres system user, as pgcluster does.
type unprivileged struct {
	cred     *syscall.Credential // nil: stay as we are
	uid, gid int
}

func unprivilegedUser() (*unprivileged, error) {
	if os.Geteuid() != 0 {
		return &unprivileged{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("couldn't find the system user postgres to run PgBouncer as (it refuses root): %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("couldn't parse the ids of user postgres (%s:%s)", u.Uid, u.Gid)
	}
	return &unprivileged{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid}, nil
}

// give hands path to the user.
func (u *unprivileged) give(path string) error {
	if u.cred == nil {
		return nil
	}
	return os.Chown(path, u.uid, u.gid)
}
