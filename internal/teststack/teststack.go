// Package teststack starts a whole custodes deployment for integration
// tests: the demo data in a fresh database of the shared test cluster, a
// control database, setup, the log, the gateway and the console, on free
// loopback ports. Each stack has its own databases and roles, so tests may
// run stacks side by side.
package teststack

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/authority"
	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/demodata"
	"github.com/custodes/custodes/pgtest"
	"github.com/custodes/custodes/seal"
	"github.com/custodes/custodes/service"
	"github.com/custodes/custodes/setup"
	"github.com/custodes/custodes/translog"
)

// Stack is a running deployment.
type Stack struct {
	Addr     string // gateway host:port
	HTTP     string // console host:port
	Dir      string // config, keys and log
	LogDir   string
	VKey     string
	Token    string
	Config   *config.Config
	Service  *service.Service
	AdminURL string // superuser URL of the agency database
	// ApproverKey is the note signer key of the stack's one approver.
	ApproverKey string
	// Logged is everything the stack has logged (warnings and errors).
	Logged func() string
	// LoggedAll is everything the stack has logged at every level, debug
	// included (kept, not shown in the test's output).
	LoggedAll func() string
}

var counter atomic.Int64

// Origin of every test stack's log.
const Origin = "test.custodes/agency"

// Start brings up a stack with the demo data for persons persons and the
// demo's analysts (password = name) and authorities. It is stopped at test
// cleanup. Each configure function may change the config before it is
// written and loaded (TLS files, the backend URL's sslmode).
func Start(t testing.TB, persons int, configure ...func(*config.Config)) *Stack {
	t.Helper()
	return StartOn(t, pgtest.Cluster(t), persons, configure...)
}

// Cluster is where a stack's databases live: the shared test cluster, or a
// test's own (*pgcluster.Cluster), for a test that crashes it.
type Cluster interface {
	Host() string
	Port() int
	SuperuserURL(db string) string
}

// StartOn is Start with the agency and control databases on cluster. The
// stack reaches it by host, port and superuser URL only, so the cluster may
// be restarted under it on the same port.
func StartOn(t testing.TB, cluster Cluster, persons int, configure ...func(*config.Config)) *Stack {
	t.Helper()
	return StartSplit(t, cluster, cluster, persons, configure...)
}

// StartSplit is StartOn with the control database on its own cluster, as a
// deployment with the control database on another server than the
// agency's (control.admin_url).
func StartSplit(t testing.TB, cluster, controlCluster Cluster, persons int, configure ...func(*config.Config)) *Stack {
	t.Helper()
	ctx := context.Background()
	n := counter.Add(1)
	suffix := fmt.Sprintf("%d_%d", os.Getpid(), n)
	agencyDB, controlDB := "agency_"+suffix, "custodes_"+suffix

	admin, err := pgx.Connect(ctx, cluster.SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+agencyDB); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, cluster.SuperuserURL(agencyDB))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := demodata.Create(ctx, conn, persons, nil); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	dir := t.TempDir()
	skey, vkey, err := translog.GenerateKey(Origin)
	if err != nil {
		t.Fatal(err)
	}
	token := "test-operator-token-" + suffix
	overseer, recipient, err := seal.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	askey, avkey, err := translog.GenerateKey("test-approver")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"log.key": skey, "log.pub": vkey, "operator.token": token, "overseer.key": overseer, "approver.key": askey} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hostport := net.JoinHostPort(cluster.Host(), fmt.Sprint(cluster.Port()))
	ctlHostport := net.JoinHostPort(controlCluster.Host(), fmt.Sprint(controlCluster.Port()))
	cfg := &config.Config{
		Listen:            freeAddr(t),
		HTTP:              freeAddr(t),
		Backend:           config.Backend{URL: fmt.Sprintf("postgres://gw_%s:gwpw%s@%s/%s?sslmode=disable", suffix, suffix, hostport, agencyDB), AdminURL: cluster.SuperuserURL("postgres")},
		Control:           config.Control{URL: fmt.Sprintf("postgres://ctl_%s:ctlpw%s@%s/%s?sslmode=disable", suffix, suffix, ctlHostport, controlDB)},
		Log:               config.Log{Dir: "log", Origin: Origin, KeyFile: "log.key"},
		OperatorTokenFile: "operator.token",
		Tenant:            config.Tenant{Name: "agency"},
		Coverage:          config.Coverage{UnitCap: 200, TenantCap: 1000},
		Overseers:         []string{recipient},
		Approvers:         []string{avkey},
		Storage:           config.Storage{ExpectedAdmins: []string{"postgres"}},
	}
	if controlCluster != cluster {
		cfg.Control.AdminURL = controlCluster.SuperuserURL("postgres")
	}
	if cfg.Tenant.Units, err = demodata.Units(); err != nil {
		t.Fatal(err)
	}
	cfg.Datasets = demodata.ConfigDatasets()
	for _, f := range configure {
		f(cfg)
	}
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "custodes.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err = config.Load(path); err != nil {
		t.Fatal(err)
	}
	logged, all := &testWriter{t: t}, &testWriter{}
	log := slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(logged, &slog.HandlerOptions{Level: slog.LevelWarn}),
		slog.NewTextHandler(all, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := setup.Run(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	svc, err := service.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	approver, err := note.NewSigner(askey)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, a := range []*authority.Statement{
		{ID: "W-DEMO-1", Kind: "judicial_warrant", Reference: "T-1", Unit: "newark", Datasets: []string{"*"}, Subjects: []int64{101, 102, 103}},
		{ID: "L-DEMO-2", Kind: "administrative", Reference: "T-2", Unit: "newark", Datasets: []string{"public.persons", "public.addresses", "public.case_files"}, MaxSubjects: 5},
		{ID: "W-DEMO-3", Kind: "judicial_warrant", Reference: "T-3", Unit: "houston", Datasets: []string{"*"}, Subjects: []int64{2001}},
		{ID: "W-EXPIRED", Kind: "judicial_warrant", Reference: "T-4", Unit: "newark", Datasets: []string{"*"}, Subjects: []int64{101}, NotBefore: from.Add(-48 * time.Hour), NotAfter: from.Add(-24 * time.Hour)},
		{ID: "C-CAPPED", Kind: "court_order", Reference: "T-5", Unit: "newark", Datasets: []string{"*"}, MaxSubjects: 10},
	} {
		a.Tenant = "agency"
		if a.NotBefore.IsZero() {
			a.NotBefore, a.NotAfter = from, from.Add(24*time.Hour)
		}
		signed, err := authority.Sign(a, approver)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.IssueAuthority(ctx, signed); err != nil {
			t.Fatal(err)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- svc.Serve(sctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-done
		svc.Close()
	})
	return &Stack{
		Addr: cfg.Listen, HTTP: cfg.HTTP, Dir: dir, LogDir: filepath.Join(dir, "log"),
		VKey: vkey, Token: token, Config: cfg, Service: svc, AdminURL: cluster.SuperuserURL(agencyDB), ApproverKey: askey,
		Logged: logged.String, LoggedAll: all.String,
	}
}

// Admin connects to the agency database as the superuser, for a test to
// see the truth behind the gateway (pg_stat_activity, the rows
// themselves); the connection is closed at cleanup.
func (s *Stack) Admin(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), s.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// URL is a connection URL for an analyst (password = name).
func (s *Stack) URL(user string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", user, user, s.Addr, s.Config.BackendDatabase())
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type testWriter struct {
	t   testing.TB
	mu  sync.Mutex
	all strings.Builder
}

func (w *testWriter) Write(p []byte) (int, error) {
	if w.t != nil {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	w.mu.Lock()
	w.all.Write(p)
	w.mu.Unlock()
	return len(p), nil
}

func (w *testWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}
