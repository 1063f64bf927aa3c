package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/authority"
	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/demodata"
	"github.com/custodes/custodes/pgcluster"
	"github.com/custodes/custodes/seal"
	"github.com/custodes/custodes/service"
	"github.com/custodes/custodes/setup"
	"github.com/custodes/custodes/translog"
)

// The names the load uses.
const (
	agencyDB    = "agency"
	controlDB   = "custodes"
	benchOrigin = "bench.custodes/agency"
	analyst     = "alice" // password = name, unit newark
	authorityID = "W-DEMO-1"
)

// deployment is a private PostgreSQL with the demo data and a custodes
// configured in front of it, its gateway a child process.
type deployment struct {
	cluster *pgcluster.Cluster
	cfg     *config.Config
	cfgPath string
	gateway *exec.Cmd
	exited  chan struct{} // closed when the gateway process has exited
	pprof   string        // the gateway's CUSTODES_PPROF address
}

// startCluster starts the private PostgreSQL, with room for the gateway's
// sessions and pgbench's at once, and loads the demo data.
func startCluster(ctx context.Context, dir string, persons int, log *slog.Logger) (*pgcluster.Cluster, error) {
	say("bench: starting PostgreSQL in %s", filepath.Join(dir, "pg"))
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		Dir:      filepath.Join(dir, "pg"),
		Logger:   log.With("component", "postgres"),
		Settings: map[string]string{"max_connections": "400"},
	})
	if err != nil {
		return nil, err
	}
	if err := loadData(ctx, c, persons); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func loadData(ctx context.Context, c *pgcluster.Cluster, persons int) error {
	admin, err := pgx.Connect(ctx, c.SuperuserURL("postgres"))
	if err != nil {
		return fmt.Errorf("couldn't connect to PostgreSQL: %w", err)
	}
	var exists bool
	err = admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", agencyDB).Scan(&exists)
	if err == nil && !exists {
		_, err = admin.Exec(ctx, "CREATE DATABASE "+agencyDB)
	}
	admin.Close(ctx)
	if err != nil {
		return fmt.Errorf("couldn't create database %s: %w", agencyDB, err)
	}
	conn, err := pgx.Connect(ctx, c.SuperuserURL(agencyDB))
	if err != nil {
		return fmt.Errorf("couldn't connect to %s: %w", agencyDB, err)
	}
	defer conn.Close(ctx)
	say("bench: loading the demo data (%d persons)", persons)
	if _, err := demodata.Create(ctx, conn, persons, nil); err != nil {
		return fmt.Errorf("couldn't load the demo data: %w", err)
	}
	return nil
}

// configure writes custodes.yaml the way internal/teststack does, with
// coverage caps the load stays within, runs setup and
// issues the demo's authority W-DEMO-1 for persons 101 to 100+subjects,
// signed by the deployment's approver.
func configure(ctx context.Context, c *pgcluster.Cluster, dir string, subjects int, log *slog.Logger) (*config.Config, string, error) {
	skey, vkey, err := translog.GenerateKey(benchOrigin)
	if err != nil {
		return nil, "", err
	}
	overseer, recipient, err := seal.NewIdentity()
	if err != nil {
		return nil, "", err
	}
	askey, avkey, err := translog.GenerateKey("bench-approver")
	if err != nil {
		return nil, "", err
	}
	token, gwpw, ctlpw := secret(), secret(), secret()
	for name, content := range map[string]string{"log.key": skey, "log.pub": vkey, "operator.token": token, "overseer.key": overseer, "approver.key": askey} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			return nil, "", err
		}
	}
	listen, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	hostport := net.JoinHostPort(c.Host(), fmt.Sprint(c.Port()))
	cfg := &config.Config{
		Listen:            listen,
		HTTP:              httpAddr,
		Backend:           config.Backend{URL: fmt.Sprintf("postgres://custodes_gateway:%s@%s/%s?sslmode=disable", gwpw, hostport, agencyDB), AdminURL: c.SuperuserURL("postgres")},
		Control:           config.Control{URL: fmt.Sprintf("postgres://custodes_control:%s@%s/%s?sslmode=disable", ctlpw, hostport, controlDB)},
		Log:               config.Log{Dir: "log", Origin: benchOrigin, KeyFile: "log.key"},
		OperatorTokenFile: "operator.token",
		Tenant:            config.Tenant{Name: "agency"},
		// The demo's unit cap, or room for the subjects the load reads:
		// caps are checked on every statement, as in a deployment.
		Coverage:  config.Coverage{UnitCap: max(200, 2*int64(subjects)), TenantCap: max(1000, 4*int64(subjects))},
		Overseers: []string{recipient},
		Approvers: []string{avkey},
		Storage:   config.Storage{ExpectedAdmins: []string{"postgres"}},
	}
	if cfg.Tenant.Units, err = demodata.Units(); err != nil {
		return nil, "", err
	}
	cfg.Datasets = demodata.ConfigDatasets()
	b, err := cfg.Marshal()
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "custodes.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, "", err
	}
	if cfg, err = config.Load(path); err != nil {
		return nil, "", err
	}
	say("bench: custodes setup")
	if err := setup.Run(ctx, cfg, log.With("component", "setup")); err != nil {
		return nil, "", fmt.Errorf("couldn't set custodes up: %w", err)
	}
	// The authority is issued through the service in this process, before
	// the gateway process opens the same log and control database.
	svc, err := service.Open(ctx, cfg, log)
	if err != nil {
		return nil, "", err
	}
	defer svc.Close()
	approver, err := note.NewSigner(askey)
	if err != nil {
		return nil, "", err
	}
	from := time.Now().Add(-time.Hour).Truncate(time.Second)
	listed := make([]int64, subjects)
	for i := range listed {
		listed[i] = 101 + int64(i)
	}
	a := &authority.Statement{ID: authorityID, Kind: "judicial_warrant", Reference: "BENCH-1", Tenant: "agency", Unit: "newark",
		Datasets: []string{"*"}, Subjects: listed, NotBefore: from, NotAfter: from.Add(7 * 24 * time.Hour)}
	signed, err := authority.Sign(a, approver)
	if err != nil {
		return nil, "", err
	}
	if _, _, err := svc.IssueAuthority(ctx, signed); err != nil {
		return nil, "", fmt.Errorf("couldn't issue %s: %w", authorityID, err)
	}
	return cfg, path, nil
}

// buildCustodes builds the custodes command of this module into dir.
func buildCustodes(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "custodes")
	say("bench: go build -o %s ./cmd/custodes", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/custodes/custodes/cmd/custodes")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("couldn't build custodes (run the harness from inside the module: go run ./bench): %v\n%s", err, out)
	}
	return bin, nil
}

// startGateway runs `custodes serve --config path` and waits for it to say
// it is ready. Its log goes to dir/custodes.log.
func startGateway(ctx context.Context, bin, path, dir string) (*deployment, error) {
	pprofAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "custodes.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Env = append(os.Environ(), "CUSTODES_PPROF="+pprofAddr)
	cmd.Stderr = logf
	// If the harness dies, so does its gateway.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("couldn't start %s serve: %w", bin, err)
	}
	d := &deployment{gateway: cmd, exited: make(chan struct{}), pprof: pprofAddr}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "custodes: ready") {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		cmd.Wait()
		logf.Close()
		close(d.exited)
	}()
	select {
	case <-ready:
		return d, nil
	case <-d.exited:
		return nil, fmt.Errorf("custodes serve exited before it was ready; see %s", filepath.Join(dir, "custodes.log"))
	case <-time.After(2 * time.Minute):
	case <-ctx.Done():
	}
	d.stopGateway()
	return nil, fmt.Errorf("custodes serve was not ready in time; see %s", filepath.Join(dir, "custodes.log"))
}

// stopGateway asks the gateway to shut down and waits, killing it if it
// takes too long.
func (d *deployment) stopGateway() {
	if d.gateway == nil || d.gateway.Process == nil {
		return
	}
	d.gateway.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(45 * time.Second):
		d.gateway.Process.Kill()
		<-d.exited
	}
}

// gatewayURL is the analyst's connection URL through the gateway.
func (d *deployment) gatewayURL() string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", analyst, analyst, d.cfg.Listen, agencyDB)
}

func secret() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// superuser splits the cluster's superuser URL into what pgbench and
// PgBouncer take.
func superuser(c *pgcluster.Cluster) (user, password string) {
	u, err := url.Parse(c.SuperuserURL("postgres"))
	if err != nil || u.User == nil {
		return "postgres", ""
	}
	pw, _ := u.User.Password()
	return u.User.Username(), pw
}
