package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// dataDir returns a path for a new cluster under a fresh temporary
// directory that the server's account can traverse.
func dataDir(t *testing.T) string {
	t.Helper()
	if _, err := FindBinaries(""); errors.Is(err, ErrNoBinaries) {
		t.Skip(err)
	}
	base := t.TempDir()
	// testing creates its directories 0700; the postgres user must get through.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(base, "pg")
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func start(t *testing.T, opts Options) *Cluster {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

func connect(t *testing.T, c *Cluster) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), c.SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func show(t *testing.T, conn *pgx.Conn, setting string) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(t.Context(), "SHOW "+setting).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func count(t *testing.T, c *Cluster, query string) int {
	t.Helper()
	var n int
	if err := connect(t, c).QueryRow(t.Context(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFindBinaries(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	_, err := FindBinaries(missing)
	if !errors.Is(err, ErrNoBinaries) || !strings.Contains(err.Error(), missing) ||
		!strings.Contains(err.Error(), "initdb, pg_ctl, postgres") {
		t.Errorf("FindBinaries(%q) = %v; want ErrNoBinaries naming the directory and all three programs", missing, err)
	}

	partial := t.TempDir()
	if err := os.WriteFile(filepath.Join(partial, "initdb"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "pg_ctl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = FindBinaries(partial)
	if !errors.Is(err, ErrNoBinaries) || !strings.HasSuffix(err.Error(), "has no pg_ctl, postgres") {
		t.Errorf("FindBinaries(partial) = %v; want it to name the non-executable pg_ctl and missing postgres only", err)
	}

	dir, err := FindBinaries("")
	if errors.Is(err, ErrNoBinaries) {
		if !strings.Contains(err.Error(), "PATH") || !strings.Contains(err.Error(), distroGlob) {
			t.Errorf("error %q does not say where it looked", err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range serverPrograms {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("FindBinaries found %s without %s: %v", dir, p, err)
		}
	}
}

func TestStartStopRestart(t *testing.T) {
	dir := dataDir(t)
	c := start(t, Options{Dir: dir, Settings: map[string]string{"max_connections": "37"}})
	if c.Dir() != dir || c.Host() != "127.0.0.1" || c.Port() == 0 {
		t.Fatalf("Dir, Host, Port = %q, %q, %d", c.Dir(), c.Host(), c.Port())
	}
	conn := connect(t, c)
	for setting, want := range map[string]string{
		"max_connections":     "37",
		"listen_addresses":    "127.0.0.1",
		"fsync":               "on",
		"server_encoding":     "UTF8",
		"lc_collate":          "C",
		"password_encryption": "scram-sha-256",
	} {
		if got := show(t, conn, setting); got != want {
			t.Errorf("SHOW %s = %q, want %q", setting, got, want)
		}
	}
	if _, err := conn.Exec(t.Context(), "CREATE TABLE survivor (n int); INSERT INTO survivor VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())

	fi, err := os.Stat(filepath.Join(dir, passwordFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", fi.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(serverUser)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{dir, filepath.Join(dir, passwordFile), filepath.Join(dir, logFile)} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if strconv.Itoa(ownerUID(fi)) != u.Uid {
				t.Errorf("%s owned by uid %d, want %s's %s", p, ownerUID(fi), serverUser, u.Uid)
			}
		}
	}

	// A wrong password is refused: authentication is really on.
	bad := strings.Replace(c.SuperuserURL("postgres"), c.password, "wrong", 1)
	if conn, err := pgx.Connect(t.Context(), bad); err == nil {
		conn.Close(t.Context())
		t.Error("connected with a wrong password")
	}

	if fi, err := os.Stat(filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", c.Port()))); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("no Unix socket in the data directory: %v", err)
	}

	port := c.Port()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if conn, err := pgx.Connect(t.Context(), c.SuperuserURL("postgres")); err == nil {
		conn.Close(t.Context())
		t.Fatal("connected after Stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after Stop: %v; want it removed by a clean shutdown", err)
	}

	c2 := start(t, Options{Dir: dir})
	if c2.Port() != port {
		t.Errorf("restart chose port %d, want the remembered %d", c2.Port(), port)
	}
	if n := count(t, c2, "SELECT count(*) FROM survivor"); n != 2 {
		t.Errorf("after restart survivor has %d rows, want 2", n)
	}
}

func TestLongDirIsTCPOnly(t *testing.T) {
	for _, tc := range []struct {
		dir, socketDir string
	}{
		{"/srv/pg", "/srv/pg"},
		{"/srv/" + strings.Repeat("d", 87), "/srv/" + strings.Repeat("d", 87)}, // 107 with /.s.PGSQL.65535
		{"/srv/" + strings.Repeat("d", 88), ""},
	} {
		c := &Cluster{dir: tc.dir, port: 65535, log: slog.New(slog.DiscardHandler)}
		args := strings.Join(serverArgs(c, map[string]string{"work_mem": "8MB"}), " ")
		if want := " unix_socket_directories=" + tc.socketDir + " "; !strings.Contains(args, want) {
			t.Errorf("args for %d-byte dir %q lack %q", len(tc.dir), args, want)
		}
		if !strings.HasSuffix(args, " -c work_mem=8MB") {
			t.Errorf("args %q do not end with the caller's settings", args)
		}
	}
}

func TestKill9ThenStart(t *testing.T) {
	dir := dataDir(t)
	c := start(t, Options{Dir: dir})
	if _, err := connect(t, c).Exec(t.Context(), "CREATE TABLE committed (n int); INSERT INTO committed VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.srv.exited
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
		t.Fatalf("no stale postmaster.pid after kill -9: %v", err)
	}
	if err := c.Stop(); err == nil || !strings.Contains(err.Error(), "already exited") {
		t.Errorf("Stop after kill -9 = %v; want it to report the earlier exit", err)
	}

	c2 := start(t, Options{Dir: dir})
	if n := count(t, c2, "SELECT count(*) FROM committed"); n != 1 {
		t.Errorf("after crash recovery committed has %d rows, want 1", n)
	}
}

// TestKill9WithLingeringBackend starts again while a backend of the killed
// server still holds its shared memory, which PostgreSQL refuses until the
// backend is gone.
func TestKill9WithLingeringBackend(t *testing.T) {
	dir := dataDir(t)
	c := start(t, Options{Dir: dir})
	var backend int
	if err := connect(t, c).QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(backend, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.srv.exited
	release := time.AfterFunc(time.Second, func() { syscall.Kill(backend, syscall.SIGKILL) })
	defer release.Stop()

	c2 := start(t, Options{Dir: dir})
	if n := count(t, c2, "SELECT 1"); n != 1 {
		t.Errorf("SELECT 1 = %d", n)
	}
	log, err := os.ReadFile(filepath.Join(dir, logFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "pre-existing shared memory block") {
		t.Error("the lingering backend never blocked a start; the test did not test the retry")
	}
}

// TestStartWhileEarlierServerStops starts a second server on a directory
// whose first server is still running, on the same port, and expects Start
// to wait for the first to go rather than mistake it for its own.
func TestStartWhileEarlierServerStops(t *testing.T) {
	dir := dataDir(t)
	c := start(t, Options{Dir: dir})
	stopped := make(chan error, 1)
	time.AfterFunc(time.Second, func() { stopped <- c.Stop() })

	c2 := start(t, Options{Dir: dir, Port: c.Port()})
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("first server's Stop: %v", err)
		}
	default:
		t.Fatal("second Start returned while the first server was still running")
	}
	if c2.srv.cmd.Process.Pid == c.srv.cmd.Process.Pid {
		t.Fatal("same process")
	}
	if n := count(t, c2, "SELECT 1"); n != 1 {
		t.Errorf("SELECT 1 = %d", n)
	}
}

func TestStartFailureQuotesLog(t *testing.T) {
	dir := dataDir(t)
	_, err := Start(t.Context(), Options{Dir: dir, Logger: testLogger(t), Settings: map[string]string{"shared_buffers": "plenty"}})
	if err == nil {
		t.Fatal("started with shared_buffers=plenty")
	}
	for _, want := range []string{filepath.Join(dir, logFile), `invalid value for parameter "shared_buffers"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// The failed start left a cluster that starts with sane settings.
	start(t, Options{Dir: dir})
}

func TestRefusals(t *testing.T) {
	dir := dataDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]Options{
		"foreign dir":      {Dir: dir},
		"no dir":           {},
		"listen_addresses": {Dir: dir, Settings: map[string]string{"listen_addresses": "*"}},
		"PORT":             {Dir: dir, Settings: map[string]string{"PORT": "1"}},
		"bad name":         {Dir: dir, Settings: map[string]string{"a=b": "c"}},
		"bad port":         {Dir: dir, Port: 70000},
	} {
		if c, err := Start(t.Context(), opts); err == nil {
			c.Stop()
			t.Errorf("%s: started", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("foreign directory was disturbed: %q, %v", b, err)
	}
}

func TestUntraversableParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the cluster to another user")
	}
	dir := dataDir(t)
	locked := filepath.Dir(dir)
	if err := os.Chmod(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "cannot enter "+locked) {
		t.Fatalf("Start under a 0700 root directory = %v; want an error naming %s", err, locked)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory created despite the error: %v", err)
	}
}

// TestParentDeath kills a process that started a cluster and expects the
// server to shut down cleanly on its own.
func TestParentDeath(t *testing.T) {
	if dir := os.Getenv("PGCLUSTER_TEST_PARENT_DIR"); dir != "" {
		c, err := Start(context.Background(), Options{Dir: dir})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("ready", c.srv.cmd.Process.Pid)
		select {}
	}
	dir := dataDir(t)
	helper := exec.Command(os.Args[0], "-test.run=^TestParentDeath$")
	helper.Env = append(os.Environ(), "PGCLUSTER_TEST_PARENT_DIR="+dir)
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
	helper.Process.Kill()
	helper.Wait()

	// A clean shutdown removes postmaster.pid.
	pidFile := filepath.Join(dir, "postmaster.pid")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(pidFile); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postgres (pid %d) still running 30 s after its parent died", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, err := os.ReadFile(filepath.Join(dir, logFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "fast shutdown request") {
		t.Errorf("log does not record a fast shutdown:\n%s", log)
	}
}
