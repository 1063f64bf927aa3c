package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrNoBinaries is returned, wrapped, when no PostgreSQL server binaries can
// be found. Tests skip on it.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries")

// serverPrograms are what a directory must hold to count as a server
// installation; client-only packages put psql and pg_dump on PATH too.
var serverPrograms = []string{"initdb", "pg_ctl", "postgres"}

// distroGlob is where Debian and Ubuntu install each major version.
const distroGlob = "/usr/lib/postgresql/*/bin"

// FindBinaries returns the directory holding initdb, pg_ctl and postgres.
// If binDir is not empty it is the only place looked at; otherwise the
// directories of those programs on PATH come first, then the highest
// version under /usr/lib/postgresql/*/bin.
func FindBinaries(binDir string) (string, error) {
	if binDir != "" {
		if missing := missingPrograms(binDir); len(missing) > 0 {
			return "", fmt.Errorf("%w: %s has no %s", ErrNoBinaries, binDir, strings.Join(missing, ", "))
		}
		return binDir, nil
	}
	var candidates []string
	for _, p := range serverPrograms {
		if path, err := exec.LookPath(p); err == nil {
			candidates = append(candidates, filepath.Dir(path))
		}
	}
	candidates = append(candidates, distroDirs()...)
	for _, dir := range candidates {
		if len(missingPrograms(dir)) == 0 {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w: looked for %s together on PATH and in %s; install the PostgreSQL server package or set the binary directory explicitly",
		ErrNoBinaries, strings.Join(serverPrograms, ", "), distroGlob)
}

func missingPrograms(dir string) []string {
	var missing []string
	for _, p := range serverPrograms {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	return missing
}

// distroDirs returns the Debian-style version directories, highest first.
func distroDirs() []string {
	dirs, _ := filepath.Glob(distroGlob)
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	sort.SliceStable(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs
}
