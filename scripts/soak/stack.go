package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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

const (
	agencyDB   = "agency"
	controlDB  = "custodes"
	soakOrigin = "soak.custodes/agency"
)

// deployment is the private PostgreSQL, custodes' config and keys, and
// the gateway child process.
type deployment struct {
	dir     string
	cluster *pgcluster.Cluster
	cfg     *config.Config
	cfgPath string
	bin     string
	token   string
	vkey    string

	gateway *exec.Cmd
	exited  chan struct{}
}

// deploy brings everything up; on error it returns what it started, for
// the caller to close.
func deploy(ctx context.Context, o *options, dir string, log *slog.Logger) (*deployment, error) {
	d := &deployment{dir: dir}
	say("soak: starting PostgreSQL in %s", filepath.Join(dir, "pg"))
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var err error
	d.cluster, err = pgcluster.Start(sctx, pgcluster.Options{
		Dir:      filepath.Join(dir, "pg"),
		Logger:   log.With("component", "postgres"),
		Settings: map[string]string{"max_connections": "200"},
	})
	if err != nil {
		return nil, err
	}
	if err := d.loadData(sctx, o.persons); err != nil {
		return d, err
	}
	if err := d.configure(sctx, log); err != nil {
		return d, err
	}
	if d.bin = o.custodes; d.bin == "" {
		if d.bin, err = build(sctx, dir); err != nil {
			return d, err
		}
	}
	say("soak: starting custodes serve")
	return d, d.startGateway(ctx)
}

func (d *deployment) loadData(ctx context.Context, persons int) error {
	admin, err := pgx.Connect(ctx, d.cluster.SuperuserURL("postgres"))
	if err != nil {
		return fmt.Errorf("couldn't connect to PostgreSQL: %w", err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+agencyDB)
	admin.Close(ctx)
	if err != nil {
		return fmt.Errorf("couldn't create database %s: %w", agencyDB, err)
	}
	conn, err := pgx.Connect(ctx, d.cluster.SuperuserURL(agencyDB))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	say("soak: loading the demo data (%d persons)", persons)
	if _, err := demodata.Create(ctx, conn, persons, nil); err != nil {
		return fmt.Errorf("couldn't load the demo data: %w", err)
	}
	return nil
}

// configure writes custodes.yaml and the keys, runs setup, and issues the
// load's authorities through a service in this process, closed before the
// gateway process opens the same log.
func (d *deployment) configure(ctx context.Context, log *slog.Logger) error {
	skey, vkey, err := translog.GenerateKey(soakOrigin)
	if err != nil {
		return err
	}
	overseer, recipient, err := seal.NewIdentity()
	if err != nil {
		return err
	}
	askey, avkey, err := translog.GenerateKey("soak-approver")
	if err != nil {
		return err
	}
	d.token, d.vkey = secret(), vkey
	gwpw, ctlpw := secret(), secret()
	for name, content := range map[string]string{"log.key": skey, "log.pub": vkey, "operator.token": d.token, "overseer.key": overseer, "approver.key": askey} {
		if err := os.WriteFile(filepath.Join(d.dir, name), []byte(content+"\n"), 0o600); err != nil {
			return err
		}
	}
	listen, err := freeAddr()
	if err != nil {
		return err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	hostport := net.JoinHostPort(d.cluster.Host(), fmt.Sprint(d.cluster.Port()))
	cfg := &config.Config{
		Listen:            listen,
		HTTP:              httpAddr,
		Backend:           config.Backend{URL: fmt.Sprintf("postgres://custodes_gateway:%s@%s/%s?sslmode=disable", gwpw, hostport, agencyDB), AdminURL: d.cluster.SuperuserURL("postgres")},
		Control:           config.Control{URL: fmt.Sprintf("postgres://custodes_control:%s@%s/%s?sslmode=disable", ctlpw, hostport, controlDB)},
		Log:               config.Log{Dir: "log", Origin: soakOrigin, KeyFile: "log.key"},
		OperatorTokenFile: "operator.token",
		Tenant:            config.Tenant{Name: "agency"},
		Coverage:          config.Coverage{UnitCap: 200, TenantCap: 1000},
		Overseers:         []string{recipient},
		Approvers:         []string{avkey},
		Storage:           config.Storage{ExpectedAdmins: []string{"postgres"}},
	}
	if cfg.Tenant.Units, err = demodata.Units(); err != nil {
		return err
	}
	cfg.Datasets = demodata.ConfigDatasets()
	b, err := cfg.Marshal()
	if err != nil {
		return err
	}
	d.cfgPath = filepath.Join(d.dir, "custodes.yaml")
	if err := os.WriteFile(d.cfgPath, b, 0o600); err != nil {
		return err
	}
	if d.cfg, err = config.Load(d.cfgPath); err != nil {
		return err
	}
	say("soak: custodes setup")
	if err := setup.Run(ctx, d.cfg, log.With("component", "setup")); err != nil {
		return fmt.Errorf("couldn't set custodes up: %w", err)
	}
	svc, err := service.Open(ctx, d.cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	approver, err := note.NewSigner(askey)
	if err != nil {
		return err
	}
	from := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, a := range []*authority.Statement{
		{ID: "W-DEMO-1", Kind: "judicial_warrant", Reference: "SOAK-1", Unit: "newark", Datasets: []string{"*"}, Subjects: []int64{101, 102, 103}},
		{ID: "L-DEMO-2", Kind: "administrative", Reference: "SOAK-2", Unit: "newark", Datasets: []string{"public.persons", "public.addresses", "public.case_files"}, MaxSubjects: 5},
		{ID: "W-DEMO-3", Kind: "judicial_warrant", Reference: "SOAK-3", Unit: "houston", Datasets: []string{"*"}, Subjects: []int64{2001}},
	} {
		a.Tenant, a.NotBefore, a.NotAfter = "agency", from, from.Add(7*24*time.Hour)
		signed, err := authority.Sign(a, approver)
		if err != nil {
			return err
		}
		if _, _, err := svc.IssueAuthority(ctx, signed); err != nil {
			return fmt.Errorf("couldn't issue %s: %w", a.ID, err)
		}
	}
	return nil
}

// build builds the custodes command of this module into dir.
func build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "custodes")
	say("soak: go build -o %s ./cmd/custodes", bin)
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/custodes/custodes/cmd/custodes").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("couldn't build custodes (run the harness from inside the module: go run ./scripts/soak): %v\n%s", err, out)
	}
	return bin, nil
}

// startGateway runs `custodes serve` and waits, at most 2 minutes, for it
// to say it is ready. Its log goes to custodes.log.
func (d *deployment) startGateway(ctx context.Context) error {
	logf, err := os.Create(filepath.Join(d.dir, "custodes.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(d.bin, "serve", "--config", d.cfgPath)
	cmd.Stderr = logf
	// If the harness dies, so does its gateway.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("couldn't start %s serve: %w", d.bin, err)
	}
	d.gateway, d.exited = cmd, make(chan struct{})
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
		return nil
	case <-d.exited:
		return fmt.Errorf("custodes serve exited before it was ready; see %s", filepath.Join(d.dir, "custodes.log"))
	case <-time.After(2 * time.Minute):
		return errors.New("custodes serve was not ready within 2 minutes")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gatewayRunning reports whether the child is still running.
func (d *deployment) gatewayRunning() bool {
	if d.gateway == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// stopGateway asks the gateway to shut down (SIGTERM) and waits for it, at
// most 60s before it kills it.
func (d *deployment) stopGateway() error {
	if !d.gatewayRunning() {
		if d.gateway != nil && d.gateway.ProcessState != nil && !d.gateway.ProcessState.Success() {
			return fmt.Errorf("custodes serve had exited: %v", d.gateway.ProcessState)
		}
		return nil
	}
	d.gateway.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if !d.gateway.ProcessState.Success() {
			return fmt.Errorf("custodes serve exited with %v", d.gateway.ProcessState)
		}
		return nil
	case <-time.After(60 * time.Second):
		d.gateway.Process.Kill()
		<-d.exited
		return errors.New("custodes serve did not stop within 60s of SIGTERM; killed")
	}
}

// verify runs `custodes verify` on the log, bounded to 10 minutes.
func (d *deployment) verify(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, d.bin, "verify", "--log", d.logDir(), "--key", filepath.Join(d.dir, "log.pub"), "-q").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// operator runs `custodes suspend` or `custodes resume` for unit, bounded.
func (d *deployment) operator(ctx context.Context, verb, unit, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := []string{verb, "--config", d.cfgPath, "--tenant", "agency", "--unit", unit}
	if reason != "" {
		args = append(args, "--reason", reason)
	}
	out, err := exec.CommandContext(ctx, d.bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("custodes %s: %v: %s", verb, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (d *deployment) logDir() string { return d.cfg.Path(d.cfg.Log.Dir) }

// close stops the gateway, if it still runs, and PostgreSQL.
func (d *deployment) close() {
	if d.gatewayRunning() {
		d.stopGateway()
	}
	if d.cluster != nil {
		if err := d.cluster.Stop(); err != nil {
			say("soak: stopping PostgreSQL: %v", err)
		}
	}
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
