package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/custodes/custodes/internal/deployment"
	"github.com/custodes/custodes/pgcluster"
)

// bouncer is a PgBouncer in session pooling in front of the cluster: the
// peer, a plain proxy that parses nothing and judges nothing.
type bouncer struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startPgbouncer writes its ini and userlist to dir and starts it as an
// unprivileged user (it refuses to run as root). Clients and server both
// authenticate with SCRAM, using the superuser's password from the
// userlist.
func startPgbouncer(ctx context.Context, bin string, c *pgcluster.Cluster, dir string, clients int) (*bouncer, error) {
	u, err := unprivilegedUser()
	if err != nil {
		return nil, err
	}
	dir = filepath.Join(dir, "pgbouncer")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := deployment.FreeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	user, password := superuser(c)
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%d dbname=%s

[pgbouncer]
listen_addr = %s
listen_port = %s
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %s
pool_mode = session
max_client_conn = %d
default_pool_size = %d
max_db_connections = 0
server_tls_sslmode = disable
client_tls_sslmode = disable
ignore_startup_parameters = extra_float_digits,options
log_connections = 0
log_disconnections = 0
stats_period = 60
`, agencyDB, c.Host(), c.Port(), agencyDB, host, port, filepath.Join(dir, "userlist.txt"), clients+50, clients+10)
	files := map[string]string{
		"pgbouncer.ini": ini,
		"userlist.txt":  fmt.Sprintf("%q %q\n", user, password),
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			return nil, err
		}
		if err := u.give(p); err != nil {
			return nil, err
		}
	}
	if err := u.give(dir); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "pgbouncer.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("couldn't start pgbouncer: %w", err)
	}
	b := &bouncer{addr: addr, cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		logf.Close()
		close(b.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return b, nil
		}
		select {
		case <-b.exited:
			return nil, fmt.Errorf("pgbouncer exited at start; see %s", filepath.Join(dir, "pgbouncer.log"))
		case <-ctx.Done():
			b.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.stop()
			return nil, fmt.Errorf("pgbouncer did not listen on %s in time; see %s", addr, filepath.Join(dir, "pgbouncer.log"))
		}
	}
}

func (b *bouncer) stop() {
	b.cmd.Process.Signal(syscall.SIGINT) // PgBouncer's immediate shutdown
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.exited
	}
}
