package pgcluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

const passwordFile = "custodes-superuser.password"

// prepare makes sure dir holds an initialised cluster and returns its
// superuser password.
func prepare(ctx context.Context, dir, bin string, acct *account, log *slog.Logger) (string, error) {
	_, err := os.Stat(filepath.Join(dir, "PG_VERSION"))
	switch {
	case err == nil:
		log.Info("reusing PostgreSQL cluster", "dir", dir)
	case errors.Is(err, os.ErrNotExist):
		empty, err := isEmptyOrMissing(dir)
		if err != nil {
			return "", err
		}
		if !empty {
			return "", fmt.Errorf("%s is not empty and has no PG_VERSION, so it is not a PostgreSQL data directory; choose an empty or missing directory", dir)
		}
		if err := initialise(ctx, dir, bin, acct, log); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("couldn't look for a cluster in %s: %w", dir, err)
	}
	if err := acct.checkOwner(dir); err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, passwordFile))
	if err != nil {
		return "", fmt.Errorf("couldn't read the superuser password of the cluster in %s (was it created by pgcluster?): %w", dir, err)
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", fmt.Errorf("superuser password file %s is empty", filepath.Join(dir, passwordFile))
	}
	return pw, nil
}

func isEmptyOrMissing(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("couldn't open %s: %w", dir, err)
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("couldn't list %s: %w", dir, err)
	}
	return false, nil
}

// initialise runs initdb in a staging directory beside dir and renames the
// result into place, so that an interrupted initdb never leaves a directory
// that looks initialised.
func initialise(ctx context.Context, dir, bin string, acct *account, log *slog.Logger) error {
	stage, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".initdb-")
	if err != nil {
		return fmt.Errorf("couldn't create a staging directory for initdb: %w", err)
	}
	defer os.RemoveAll(stage)
	if err := acct.chown(stage); err != nil {
		return err
	}
	pwPath := filepath.Join(stage, passwordFile)
	if err := os.WriteFile(pwPath, []byte(rand.Text()+"\n"), 0o600); err != nil {
		return fmt.Errorf("couldn't write the superuser password: %w", err)
	}
	if err := acct.chown(pwPath); err != nil {
		return err
	}

	data := filepath.Join(stage, "data")
	initdb := filepath.Join(bin, "initdb")
	log.Info("initialising PostgreSQL cluster", "dir", dir, "initdb", initdb)
	cmd := exec.CommandContext(ctx, initdb, "-D", data, "-U", "postgres",
		"--auth=scram-sha-256", "--pwfile="+pwPath, "--encoding=UTF8", "--locale=C")
	cmd.Dir = stage
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.credential()}
	setParentDeathSignal(cmd.SysProcAttr, syscall.SIGKILL)
	// The death signal follows the thread that forks, so keep it until initdb ends.
	runtime.LockOSThread()
	out, err := cmd.CombinedOutput()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("couldn't initialise a PostgreSQL cluster with %s: %w\n%s", initdb, err, lastLines(out, 20))
	}
	log.Debug("initdb finished", "output", string(out))

	if err := os.Rename(pwPath, filepath.Join(data, passwordFile)); err != nil {
		return fmt.Errorf("couldn't move the superuser password into the cluster: %w", err)
	}
	// rename(2) replaces dir if it is an empty directory.
	if err := os.Rename(data, dir); err != nil {
		return fmt.Errorf("couldn't move the new cluster into %s: %w", dir, err)
	}
	return nil
}

// serverEnv is our environment without libpq's PG* variables, which must
// not steer the server tools (PGDATA, PGPORT, ...).
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// lastLines returns at most n final lines of b, indented for quoting in an error.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\t" + strings.Join(lines, "\n\t")
}
