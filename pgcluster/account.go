package pgcluster

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// serverUser is the system account PostgreSQL runs as when we are root.
const serverUser = "postgres"

// account is the OS identity that initdb and postgres run as.
type account struct {
	name   string // "" when it is our own identity
	uid    int
	groups []uint32 // primary group first
}

// serverAccount returns our own identity, or the postgres system user when
// we are root, because initdb and postgres refuse to run as root.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return &account{uid: os.Geteuid(), groups: []uint32{uint32(os.Getegid())}}, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return nil, fmt.Errorf("couldn't find the system user %q to run PostgreSQL as (initdb refuses to run as root): %w; create it (useradd --system %s) or run as an unprivileged user",
			serverUser, err, serverUser)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse uid %q of system user %s: %w", u.Uid, serverUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse gid %q of system user %s: %w", u.Gid, serverUser, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("system user %s has uid 0; PostgreSQL refuses to run as root", serverUser)
	}
	a := &account{name: serverUser, uid: uid, groups: []uint32{uint32(gid)}}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("couldn't list the groups of system user %s: %w", serverUser, err)
	}
	for _, g := range gids {
		n, err := strconv.ParseUint(g, 10, 32)
		if err == nil && !slices.Contains(a.groups, uint32(n)) {
			a.groups = append(a.groups, uint32(n))
		}
	}
	return a, nil
}

// credential is what the child processes switch to; nil means stay as we are.
func (a *account) credential() *syscall.Credential {
	if a.name == "" {
		return nil
	}
	return &syscall.Credential{Uid: uint32(a.uid), Gid: a.groups[0], Groups: a.groups[1:]}
}

func (a *account) String() string {
	if a.name == "" {
		return fmt.Sprintf("uid %d", a.uid)
	}
	return fmt.Sprintf("system user %s (uid %d)", a.name, a.uid)
}

// chown gives path to the account, when it is not our own.
func (a *account) chown(path string) error {
	if a.name == "" {
		return nil
	}
	if err := os.Lchown(path, a.uid, int(a.groups[0])); err != nil {
		return fmt.Errorf("couldn't give %s to %s: %w", path, a, err)
	}
	return nil
}

// checkTraversable fails, naming the first obstacle from the root down, if
// the account cannot reach dir because some directory above it lacks search
// permission for it. Both the path as given and its resolved form are
// checked, since the kernel walks the first and lands in the second.
func (a *account) checkTraversable(dir string) error {
	if a.name == "" {
		return nil
	}
	paths := []string{dir}
	if real, err := filepath.EvalSymlinks(filepath.Dir(dir)); err == nil {
		paths = append(paths, filepath.Join(real, filepath.Base(dir)))
	}
	for _, p := range paths {
		var ancestors []string
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			ancestors = append(ancestors, d)
			if d == filepath.Dir(d) {
				break
			}
		}
		for _, d := range slices.Backward(ancestors) {
			fi, err := os.Stat(d)
			if err != nil {
				return fmt.Errorf("couldn't check that %s can enter %s: %w", a, d, err)
			}
			if !a.canSearch(fi) {
				return fmt.Errorf("PostgreSQL runs as %s, which cannot enter %s (mode %v, owner uid %d), so it cannot reach the data directory %s: make it traversable (chmod o+x %s) or choose a data directory elsewhere",
					a, d, fi.Mode().Perm(), ownerUID(fi), dir, d)
			}
		}
	}
	return nil
}

func (a *account) canSearch(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == a.uid:
		return perm&0o100 != 0
	case slices.Contains(a.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// checkOwner fails if dir is not owned by the account; PostgreSQL would
// refuse it anyway, less helpfully.
func (a *account) checkOwner(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("couldn't check the owner of %s: %w", dir, err)
	}
	if uid := ownerUID(fi); uid != a.uid {
		return fmt.Errorf("data directory %s is owned by uid %d, but PostgreSQL runs as %s: chown -R %d %s",
			dir, uid, a, a.uid, dir)
	}
	return nil
}

func ownerUID(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
