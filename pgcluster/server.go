package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

const (
	logFile      = "postgres.log"
	startTimeout = 3 * time.Minute // crash recovery of a big demo can be slow
	pollInterval = 50 * time.Millisecond
)

var (
	errPortTaken = errors.New("port already in use")
	errOldServer = errors.New("an earlier server of this data directory is still running")
)

// server is one run of the postgres child process.
type server struct {
	cmd     *exec.Cmd
	log     *slog.Logger
	logFile *os.File
	logPath string
	logFrom int64 // where this run's lines start in the log

	exited  chan struct{} // closed once cmd.Wait returns
	waitErr error         // set before exited is closed
}

// startServer starts postgres for c and waits until it accepts c's
// superuser on c's port. On failure nothing is left running.
func startServer(ctx context.Context, c *Cluster, bin string, acct *account, args []string) (*server, error) {
	s := &server{log: c.log, logPath: filepath.Join(c.dir, logFile), exited: make(chan struct{})}
	f, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't open the PostgreSQL log: %w", err)
	}
	if err := acct.chown(s.logPath); err != nil {
		f.Close()
		return nil, err
	}
	if s.logFrom, err = f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't open the PostgreSQL log: %w", err)
	}
	s.logFile = f

	postgres := filepath.Join(bin, "postgres")
	s.cmd = exec.Command(postgres, args...)
	s.cmd.Dir = c.dir
	s.cmd.Env = serverEnv()
	s.cmd.Stdout, s.cmd.Stderr = f, f
	// Its own process group keeps a terminal's Ctrl-C away from it: the
	// caller decides when to stop. SIGINT on our death is a fast shutdown.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.credential(), Setpgid: true}
	setParentDeathSignal(s.cmd.SysProcAttr, syscall.SIGINT)

	started := make(chan error, 1)
	go func() {
		// The death signal follows the thread that forks, so this goroutine
		// holds its thread for as long as the child lives.
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't run %s: %w", postgres, err)
	}
	c.log.Info("starting PostgreSQL", "dir", c.dir, "port", c.port, "pid", s.cmd.Process.Pid, "log", s.logPath)

	t0 := time.Now()
	if err := s.waitReady(ctx, c); err != nil {
		s.stop()
		return nil, err
	}
	c.log.Info("PostgreSQL is ready", "port", c.port, "after", time.Since(t0).Round(time.Millisecond))
	return s, nil
}

// waitReady connects as the superuser until it works, postgres exits, or
// time runs out.
func (s *server) waitReady(ctx context.Context, c *Cluster) error {
	ctx, cancel := context.WithTimeoutCause(ctx, startTimeout,
		fmt.Errorf("PostgreSQL did not accept connections within %v", startTimeout))
	defer cancel()
	url := c.SuperuserURL("postgres")
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var lastErr error
	for {
		connCtx, connCancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgconn.Connect(connCtx, url)
		connCancel()
		if err == nil {
			err = s.checkOwnServer(ctx, conn, c.dir)
			conn.Close(context.Background())
			return err
		}
		lastErr = err
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
			// Give a postgres that failed to bind, leaving the port to
			// someone else's server, a moment to be seen exiting.
			select {
			case <-s.exited:
				return s.startupFailure()
			case <-time.After(200 * time.Millisecond):
			}
			return fmt.Errorf("PostgreSQL on %s:%d rejected the superuser password from %s: %w",
				host, c.port, filepath.Join(c.dir, passwordFile), err)
		}
		select {
		case <-s.exited:
			return s.startupFailure()
		case <-ctx.Done():
			return fmt.Errorf("%w (last attempt: %v); last lines of %s:\n%s",
				context.Cause(ctx), lastErr, s.logPath, s.logTail())
		case <-tick.C:
		}
	}
}

// checkOwnServer makes sure the server that answered is ours, not another
// one that owns the port.
func (s *server) checkOwnServer(ctx context.Context, conn *pgconn.PgConn, dir string) error {
	res, err := conn.Exec(ctx, "SHOW data_directory").ReadAll()
	if err != nil {
		return fmt.Errorf("couldn't ask PostgreSQL for its data directory: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 {
		return errors.New("couldn't ask PostgreSQL for its data directory: unexpected reply")
	}
	if got := string(res[0].Rows[0][0]); got != dir {
		return fmt.Errorf("the PostgreSQL answering on %s serves %s, not %s", conn.Conn().RemoteAddr(), got, dir)
	}
	// Another server of this same directory could be answering; the lock
	// file names the one that really holds it.
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("couldn't read the lock file of %s: %w", dir, err)
	}
	pid, _, _ := strings.Cut(string(b), "\n")
	if want := strconv.Itoa(s.cmd.Process.Pid); pid != want {
		return fmt.Errorf("%w: the PostgreSQL answering on %s is pid %s, not ours (%s)", errOldServer, conn.Conn().RemoteAddr(), pid, want)
	}
	return nil
}

func (s *server) startupFailure() error {
	tail := s.logTail()
	err := fmt.Errorf("PostgreSQL exited during start-up (%v); last lines of %s:\n%s", s.waitErr, s.logPath, tail)
	switch {
	case strings.Contains(tail, "could not bind") || strings.Contains(tail, "Address already in use"):
		return fmt.Errorf("%w: %w", errPortTaken, err)
	case strings.Contains(tail, "pre-existing shared memory block"),
		strings.Contains(tail, "lock file") && strings.Contains(tail, "already exists"):
		return fmt.Errorf("%w: %w", errOldServer, err)
	}
	return err
}

// logTail returns the last lines this run wrote to the log.
func (s *server) logTail() string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return fmt.Sprintf("\t(couldn't read the log: %v)", err)
	}
	defer f.Close()
	const maxTail = 64 << 10
	from := s.logFrom
	if fi, err := f.Stat(); err == nil && fi.Size()-from > maxTail {
		from = fi.Size() - maxTail
	}
	b, err := io.ReadAll(io.NewSectionReader(f, from, maxTail))
	if err != nil {
		return fmt.Sprintf("\t(couldn't read the log: %v)", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return "\t(nothing logged)"
	}
	return lastLines(b, 20)
}

// stop asks for a fast shutdown, escalating to an immediate shutdown and
// then SIGKILL if postgres does not exit in time.
func (s *server) stop() error {
	defer s.logFile.Close()
	select {
	case <-s.exited:
		return fmt.Errorf("PostgreSQL had already exited: %v", s.waitErr)
	default:
	}
	pid := s.cmd.Process.Pid
	s.log.Info("stopping PostgreSQL", "pid", pid)
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{
		{syscall.SIGINT, time.Minute},
		{syscall.SIGQUIT, 10 * time.Second},
		{syscall.SIGKILL, 10 * time.Second},
	}
	for i, step := range steps {
		if err := s.cmd.Process.Signal(step.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("couldn't signal PostgreSQL (pid %d): %w", pid, err)
		}
		select {
		case <-s.exited:
			if i > 0 {
				return fmt.Errorf("PostgreSQL (pid %d) ignored a fast shutdown; stopped it with %v", pid, step.sig)
			}
			if s.waitErr != nil {
				return fmt.Errorf("PostgreSQL (pid %d) failed to shut down cleanly: %w; see %s", pid, s.waitErr, s.logPath)
			}
			return nil
		case <-time.After(step.wait):
			s.log.Warn("PostgreSQL has not exited yet", "pid", pid, "signal", step.sig, "waited", step.wait)
		}
	}
	return fmt.Errorf("couldn't stop PostgreSQL (pid %d) even with SIGKILL", pid)
}
