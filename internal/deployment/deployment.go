// Package deployment is the private, throwaway custodes deployment that
// the bench harness (bench/) and the soak run (scripts/soak/) work on: its
// own PostgreSQL (package pgcluster) with the demo data, a custodes.yaml
// with fresh keys and secrets, setup run, the harness's authorities issued,
// and the gateway as a child process (`custodes serve`), so that its
// memory, CPU and profiles are its own. Everything listens on loopback
// only, and every phase is bounded in time, by the caller's context or
// here.
//
// It is not for tests: internal/teststack runs custodes in-process.
package deployment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"k8s.io/klog/v2"

	"github.com/custodes/custodes/authority"
	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/demodata"
	"github.com/custodes/custodes/pgcluster"
	"github.com/custodes/custodes/seal"
	"github.com/custodes/custodes/service"
	"github.com/custodes/custodes/setup"
	"github.com/custodes/custodes/translog"
)

// The databases of the deployment: the demo's, which the gateway fronts,
// and custodes' control database.
const (
	AgencyDB  = "agency"
	ControlDB = "custodes"
	Tenant    = "agency"
)

// Options are what differs between the harnesses.
type Options struct {
	Dir            string // working directory: pg/, log/, keys, custodes.yaml, custodes.log
	Persons        int    // demo persons to load
	MaxConnections int    // PostgreSQL's max_connections
	Origin         string // the log's origin
	Approver       string // name of the approver's key
	Coverage       config.Coverage
	// Authorities are signed by the deployment's approver and issued
	// after setup. Tenant, NotBefore and NotAfter are filled in if zero:
	// the tenant, an hour ago, a week after that.
	Authorities []*authority.Statement
	// Say prints a progress line; nil prints nothing.
	Say    func(format string, args ...any)
	Logger *slog.Logger
}

// Deployment is a running private deployment.
type Deployment struct {
	Dir        string
	Cluster    *pgcluster.Cluster
	Config     *config.Config
	ConfigPath string
	Token      string // the operator token
	LogKey     string // the log's verifier key
	Bin        string // the custodes binary the gateway runs, once started

	say     func(format string, args ...any)
	gateway *gateway
}

// Logger returns the logger for the set-up, warnings only unless verbose,
// and routes Tessera's klog through it (only its warnings are worth a line).
func Logger(verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	klog.SetLogger(logr.FromSlogHandler(h.WithAttrs([]slog.Attr{slog.String("component", "tessera")})))
	return slog.New(h)
}

// Start starts PostgreSQL, loads the demo data, writes the config, runs
// setup and issues o.Authorities. On error it stops what it started.
func Start(ctx context.Context, o Options) (*Deployment, error) {
	d := &Deployment{Dir: o.Dir, say: o.Say}
	if d.say == nil {
		d.say = func(string, ...any) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d.say("starting PostgreSQL in %s", filepath.Join(o.Dir, "pg"))
	var err error
	d.Cluster, err = pgcluster.Start(ctx, pgcluster.Options{
		Dir:      filepath.Join(o.Dir, "pg"),
		Logger:   o.Logger.With("component", "postgres"),
		Settings: map[string]string{"max_connections": fmt.Sprint(o.MaxConnections)},
	})
	if err != nil {
		return nil, err
	}
	if err := d.loadData(ctx, o.Persons); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.configure(ctx, o); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Deployment) loadData(ctx context.Context, persons int) error {
	admin, err := pgx.Connect(ctx, d.Cluster.SuperuserURL("postgres"))
	if err != nil {
		return fmt.Errorf("couldn't connect to PostgreSQL: %w", err)
	}
	// A kept working directory (bench -keep -dir) has the database already.
	var exists bool
	err = admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", AgencyDB).Scan(&exists)
	if err == nil && !exists {
		_, err = admin.Exec(ctx, "CREATE DATABASE "+AgencyDB)
	}
	admin.Close(ctx)
	if err != nil {
		return fmt.Errorf("couldn't create database %s: %w", AgencyDB, err)
	}
	conn, err := pgx.Connect(ctx, d.Cluster.SuperuserURL(AgencyDB))
	if err != nil {
		return fmt.Errorf("couldn't connect to %s: %w", AgencyDB, err)
	}
	defer conn.Close(ctx)
	d.say("loading the demo data (%d persons)", persons)
	if _, err := demodata.Create(ctx, conn, persons, nil); err != nil {
		return fmt.Errorf("couldn't load the demo data: %w", err)
	}
	return nil
}

// configure writes custodes.yaml and the keys the way internal/teststack
// does, runs setup, and issues the authorities through a service in this
// process, closed before the gateway process opens the same log and
// control database.
func (d *Deployment) configure(ctx context.Context, o Options) error {
	skey, vkey, err := translog.GenerateKey(o.Origin)
	if err != nil {
		return fmt.Errorf("couldn't generate the log key: %w", err)
	}
	overseer, recipient, err := seal.NewIdentity()
	if err != nil {
		return fmt.Errorf("couldn't generate the overseer identity: %w", err)
	}
	askey, avkey, err := translog.GenerateKey(o.Approver)
	if err != nil {
		return fmt.Errorf("couldn't generate the approver key: %w", err)
	}
	d.Token, d.LogKey = secret(), vkey
	gwpw, ctlpw := secret(), secret()
	for name, content := range map[string]string{"log.key": skey, "log.pub": vkey, "operator.token": d.Token, "overseer.key": overseer, "approver.key": askey} {
		if err := os.WriteFile(filepath.Join(d.Dir, name), []byte(content+"\n"), 0o600); err != nil {
			return err
		}
	}
	listen, err := FreeAddr()
	if err != nil {
		return err
	}
	httpAddr, err := FreeAddr()
	if err != nil {
		return err
	}
	hostport := net.JoinHostPort(d.Cluster.Host(), fmt.Sprint(d.Cluster.Port()))
	cfg := &config.Config{
		Listen:            listen,
		HTTP:              httpAddr,
		Backend:           config.Backend{URL: fmt.Sprintf("postgres://custodes_gateway:%s@%s/%s?sslmode=disable", gwpw, hostport, AgencyDB), AdminURL: d.Cluster.SuperuserURL("postgres")},
		Control:           config.Control{URL: fmt.Sprintf("postgres://custodes_control:%s@%s/%s?sslmode=disable", ctlpw, hostport, ControlDB)},
		Log:               config.Log{Dir: "log", Origin: o.Origin, KeyFile: "log.key"},
		OperatorTokenFile: "operator.token",
		Tenant:            config.Tenant{Name: Tenant},
		Coverage:          o.Coverage,
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
	d.ConfigPath = filepath.Join(d.Dir, "custodes.yaml")
	if err := os.WriteFile(d.ConfigPath, b, 0o600); err != nil {
		return err
	}
	if d.Config, err = config.Load(d.ConfigPath); err != nil {
		return err
	}
	d.say("custodes setup")
	if err := setup.Run(ctx, d.Config, o.Logger.With("component", "setup")); err != nil {
		return fmt.Errorf("couldn't set custodes up: %w", err)
	}
	if len(o.Authorities) == 0 {
		return nil
	}
	svc, err := service.Open(ctx, d.Config, o.Logger)
	if err != nil {
		return err
	}
	defer svc.Close()
	approver, err := note.NewSigner(askey)
	if err != nil {
		return err
	}
	from := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, a := range o.Authorities {
		if a.Tenant == "" {
			a.Tenant = Tenant
		}
		if a.NotBefore.IsZero() {
			a.NotBefore, a.NotAfter = from, from.Add(7*24*time.Hour)
		}
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

// Build builds the custodes command of this module into dir; harness is
// how the harness is run (go run ./bench), named in the error: go build
// needs the module.
func Build(ctx context.Context, dir, harness string, say func(format string, args ...any)) (string, error) {
	bin := filepath.Join(dir, "custodes")
	if say != nil {
		say("go build -o %s ./cmd/custodes", bin)
	}
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/custodes/custodes/cmd/custodes").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("couldn't build custodes (run the harness from inside the module: %s): %v\n%s", harness, err, out)
	}
	return bin, nil
}

// AnalystURL is the connection URL through the gateway of a demo analyst,
// whose password is their name.
func (d *Deployment) AnalystURL(name string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", name, name, d.Config.Listen, AgencyDB)
}

// LogDir is the log's directory.
func (d *Deployment) LogDir() string { return d.Config.Path(d.Config.Log.Dir) }

// Close stops the gateway, if it still runs, and PostgreSQL.
func (d *Deployment) Close() error {
	if d.GatewayRunning() {
		d.StopGateway()
	}
	if d.Cluster == nil {
		return nil
	}
	if err := d.Cluster.Stop(); err != nil {
		return fmt.Errorf("couldn't stop PostgreSQL: %w", err)
	}
	return nil
}

func secret() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// FreeAddr returns a loopback address with a port free just now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("couldn't find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
