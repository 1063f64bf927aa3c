// Package demo runs the whole of custodes on one machine: a private
// PostgreSQL started from the system's own binaries, the synthetic agency
// data, the control database, the demo tenant with its units, analysts and
// authorities, the transparency log, the gateway and the console.
//
// Everything lives in one directory (default ./custodes-demo):
//
//	DIR/pg/             the PostgreSQL cluster
//	DIR/custodes.yaml   the config, in the format `custodes serve` takes
//	DIR/log/            the transparency log
//	DIR/log.key         the log's signing key (private)
//	DIR/log.pub         the log's verifier key (C2SP signed-note vkey)
//	DIR/operator.token  the console's operator token
//	DIR/overseer.key    an overseer's age identity, to unseal details
//	DIR/approver.key    the demo approver's signing key, for authorities
//
// Running the demo again on the same directory reuses all of it and
// continues the same log.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schollz/progressbar/v3"
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

// Origin is the demo log's name.
const Origin = "demo.custodes/agency"

// Options configure Run.
type Options struct {
	Dir      string // default ./custodes-demo
	Persons  int    // default 100000
	Listen   string // gateway, default 127.0.0.1:6432
	HTTP     string // console, default 127.0.0.1:8080
	Scenario bool   // run the scripted tour, then exit
	Stdout   io.Writer
	Stderr   io.Writer // progress bars, when Terminal
	Terminal bool      // Stderr is a terminal: draw progress bars; otherwise print milestones
	Logger   *slog.Logger
}

// ErrScenarioFailed is returned when a scenario step did not go as expected.
var ErrScenarioFailed = errors.New("the scenario did not go as expected")

// Run prepares the demo and serves it until ctx ends (or, with Scenario,
// until the tour is done).
func Run(ctx context.Context, o Options) error {
	if o.Dir == "" {
		o.Dir = "custodes-demo"
	}
	if o.Persons == 0 {
		o.Persons = 100000
	}
	if o.Persons < 1 {
		return errors.New("--persons must be at least 1")
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:6432"
	}
	if o.HTTP == "" {
		o.HTTP = "127.0.0.1:8080"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("couldn't create %s: %w", dir, err)
	}
	// The cluster runs as an unprivileged user when we are root, and that
	// user must reach DIR/pg.
	os.Chmod(dir, 0o755)
	log := o.Logger
	say := func(format string, args ...any) { fmt.Fprintf(o.Stdout, format+"\n", args...) }

	say("custodes demo in %s", dir)
	if os.Geteuid() == 0 {
		say("running as root: PostgreSQL runs as the system user postgres (initdb refuses root)")
	}
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg"), Logger: log.With("component", "postgres")})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	say("PostgreSQL is running on %s:%d (data in %s)", cluster.Host(), cluster.Port(), cluster.Dir())

	if err := createAgency(ctx, cluster, o); err != nil {
		return err
	}

	cfg, err := loadOrWriteConfig(dir, cluster, o)
	if err != nil {
		return err
	}
	if err := setup.Run(ctx, cfg, log.With("component", "setup")); err != nil {
		return fmt.Errorf("couldn't set up the databases: %w", err)
	}

	svc, err := service.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := issueAuthorities(ctx, svc, dir, cfg); err != nil {
		return err
	}

	vkey, _ := os.ReadFile(filepath.Join(dir, "log.pub"))
	token, _ := os.ReadFile(filepath.Join(dir, "operator.token"))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readyc := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- svc.Serve(ctx, func() { close(readyc) }) }()
	select {
	case err := <-errc:
		return err
	case <-readyc:
	}

	host, port, _ := net.SplitHostPort(cfg.Listen)
	say("")
	say("Connect as an analyst (unit newark: alice, bob; unit houston: carol; password = name):")
	say("  psql \"postgres://alice:alice@%s:%s/agency\"", host, port)
	say("  agency=> SET custodes.authority = 'W-DEMO-1';")
	say("  agency=> SELECT full_name, nationality FROM persons WHERE person_id = 101;")
	say("Console:         http://%s/", cfg.HTTP)
	say("Operator token:  %s (in %s)", trim(token), filepath.Join(dir, "operator.token"))
	say("Verifier key:    %s", trim(vkey))
	say("Verify the log:  custodes verify --log %s --key %s", filepath.Join(dir, "log"), filepath.Join(dir, "log.pub"))
	say("                 custodes verify --log http://%s/log/ --key %s", cfg.HTTP, filepath.Join(dir, "log.pub"))
	say("custodes: ready")

	if o.Scenario {
		ok := runScenario(ctx, scenarioEnv{
			out:      o.Stdout,
			persons:  o.Persons,
			cfg:      cfg,
			identity: filepath.Join(dir, "overseer.key"),
			operator: svc,
			listen:   cfg.Listen,
			logDir:   cfg.Path(cfg.Log.Dir),
			vkey:     trim(vkey),
			http:     cfg.HTTP,
		})
		cancel()
		if err := <-errc; err != nil {
			return err
		}
		if !ok {
			return ErrScenarioFailed
		}
		return nil
	}
	err = <-errc
	say("custodes: stopped")
	return err
}

func trim(b []byte) string { return string(bytesTrim(b)) }

func bytesTrim(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// createAgency creates the agency database and loads its data, once.
func createAgency(ctx context.Context, cluster *pgcluster.Cluster, o Options) error {
	admin, err := pgx.Connect(ctx, cluster.SuperuserURL("postgres"))
	if err != nil {
		return fmt.Errorf("couldn't connect to the demo cluster: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'agency')`).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := admin.Exec(ctx, `CREATE DATABASE agency ENCODING 'UTF8'`); err != nil {
			return fmt.Errorf("couldn't create database agency: %w", err)
		}
	}
	conn, err := pgx.Connect(ctx, cluster.SuperuserURL("agency"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var bar *progressbar.ProgressBar
	started := false
	lastTenth := int64(-1)
	loaded, err := demodata.Create(ctx, conn, o.Persons, func(done, total int64) {
		if !started {
			started = true
			fmt.Fprintf(o.Stdout, "loading synthetic data for %d persons (%d rows)\n", o.Persons, total)
			if o.Terminal {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(o.Stderr),
					progressbar.OptionSetDescription("rows"), progressbar.OptionShowCount(),
					progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
			}
		}
		if bar != nil {
			bar.Set64(done)
		} else if tenth := done * 10 / max(total, 1); tenth != lastTenth && tenth%5 == 0 {
			lastTenth = tenth
			fmt.Fprintf(o.Stdout, "  %d%% (%d/%d rows)\n", tenth*10, done, total)
		}
	})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return fmt.Errorf("couldn't load the demo data: %w", err)
	}
	if !loaded {
		fmt.Fprintln(o.Stdout, "demo data already loaded")
	}
	return nil
}

// loadOrWriteConfig returns DIR/custodes.yaml, writing it (and the keys and
// token beside it) the first time. On later runs only the cluster's address
// is brought up to date.
func loadOrWriteConfig(dir string, cluster *pgcluster.Cluster, o Options) (*config.Config, error) {
	path := filepath.Join(dir, "custodes.yaml")
	var cfg *config.Config
	if _, err := os.Stat(path); err == nil {
		if cfg, err = config.Load(path); err != nil {
			return nil, err
		}
		cfg.Backend.URL = rehost(cfg.Backend.URL, cluster)
		cfg.Control.URL = rehost(cfg.Control.URL, cluster)
	} else {
		if cfg, err = newConfig(dir, cluster); err != nil {
			return nil, err
		}
	}
	cfg.Backend.AdminURL = cluster.SuperuserURL("postgres")
	cfg.Listen, cfg.HTTP = o.Listen, o.HTTP
	b, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return config.Load(path)
}

func rehost(u string, cluster *pgcluster.Cluster) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Host = net.JoinHostPort(cluster.Host(), strconv.Itoa(cluster.Port()))
	return p.String()
}

func secret() string {
	b := make([]byte, 18)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newConfig(dir string, cluster *pgcluster.Cluster) (*config.Config, error) {
	skey, vkey, err := translog.GenerateKey(Origin)
	if err != nil {
		return nil, err
	}
	overseer, recipient, err := seal.NewIdentity()
	if err != nil {
		return nil, err
	}
	// The overseer's identity would never sit beside the operator's files
	// in production; the demo plays every part on one machine.
	askey, avkey, err := translog.GenerateKey("demo-approver")
	if err != nil {
		return nil, err
	}
	files := map[string]string{"log.key": skey, "log.pub": vkey, "operator.token": secret(), "overseer.key": overseer,
		"approver.key": askey, "approver.pub": avkey}
	for name, content := range files {
		mode := os.FileMode(0o600)
		if name == "log.pub" {
			mode = 0o644
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), mode); err != nil {
			return nil, fmt.Errorf("couldn't write %s: %w", name, err)
		}
	}
	addr := net.JoinHostPort(cluster.Host(), strconv.Itoa(cluster.Port()))
	units, err := demodata.Units()
	if err != nil {
		return nil, err
	}
	cfg := &config.Config{
		Backend:           config.Backend{URL: fmt.Sprintf("postgres://custodes_gateway:%s@%s/agency?sslmode=disable", secret(), addr)},
		Control:           config.Control{URL: fmt.Sprintf("postgres://custodes_control:%s@%s/custodes?sslmode=disable", secret(), addr)},
		Log:               config.Log{Dir: "log", Origin: Origin, KeyFile: "log.key"},
		OperatorTokenFile: "operator.token",
		Tenant:            config.Tenant{Name: "agency", Units: units},
		Coverage:          config.Coverage{UnitCap: 200, TenantCap: 1000},
		Overseers:         []string{recipient},
		Approvers:         []string{avkey},
		Storage:           config.Storage{Interval: config.Duration{Duration: 10 * time.Minute}, ExpectedAdmins: []string{"postgres"}},
	}
	cfg.Datasets = demodata.ConfigDatasets()
	return cfg, nil
}

// issueAuthorities registers the demo's three authorities, once each,
// signed by the demo approver.
func issueAuthorities(ctx context.Context, svc *service.Service, dir string, cfg *config.Config) error {
	key, err := os.ReadFile(filepath.Join(dir, "approver.key"))
	if err != nil {
		return fmt.Errorf("couldn't read the demo approver's key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(key)))
	if err != nil {
		return fmt.Errorf("approver.key: %w", err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	until := from.AddDate(5, 0, 0)
	for _, a := range []*authority.Statement{
		{ID: "W-DEMO-1", Kind: "judicial_warrant", Reference: "DEMO-CR-0001", Unit: "newark", Datasets: []string{"*"}, Subjects: []int64{101, 102, 103}},
		{ID: "L-DEMO-2", Kind: "administrative", Reference: "DEMO-LEAD-0002", Unit: "newark", Datasets: []string{"public.persons", "public.addresses", "public.case_files"}, MaxSubjects: 5},
		{ID: "W-DEMO-3", Kind: "judicial_warrant", Reference: "DEMO-CR-0003", Unit: "houston", Datasets: []string{"*"}, Subjects: []int64{2001}},
	} {
		a.Tenant = cfg.Tenant.Name
		a.NotBefore, a.NotAfter = from, until
		signed, err := authority.Sign(a, signer)
		if err != nil {
			return err
		}
		if _, _, err := svc.IssueAuthority(ctx, signed); err != nil && !errors.Is(err, service.ErrBadRequest) {
			return err
		} else if err != nil && !strings.Contains(err.Error(), "exists already") {
			return err
		}
	}
	return nil
}
