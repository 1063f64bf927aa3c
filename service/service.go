// Package service wires one custodes deployment together from its config:
// the transparency log, the control state, the policy, the gateway and the
// console. `custodes serve` and `custodes demo` both run it.
//
// Open validates and opens every part, one step at a time, and fails with
// the name of the step that could not be done; Serve then accepts
// connections until its context ends.
package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/net/netutil"

	"github.com/custodes/custodes/authority"
	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/console"
	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/gateway"
	"github.com/custodes/custodes/policy"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/scram"
	"github.com/custodes/custodes/seal"
	"github.com/custodes/custodes/translog"
)

// Service is a running deployment. It owns the log, the control pool and
// the listeners.
type Service struct {
	cfg     *config.Config
	log     *slog.Logger
	tlog    *translog.Log
	control *control.DB
	scope   *control.Scope
	policy  *policy.Policy
	gateway *gateway.Server
	// approvers verify authorities; fixed at Open.
	approvers note.Verifiers
	console   http.Handler
}

// Open opens every part of the deployment cfg describes.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Service, error) {
	s := &Service{cfg: cfg, log: log}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	if err := checkDescriptors(cmp.Or(cfg.MaxSessions, gateway.DefaultMaxSessions), descriptorLimit()); err != nil {
		return nil, err
	}
	keyText, err := os.ReadFile(cfg.Path(cfg.Log.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("couldn't read log.key_file: %w", err)
	}
	token, err := os.ReadFile(cfg.Path(cfg.OperatorTokenFile))
	if err != nil {
		return nil, fmt.Errorf("couldn't read operator_token_file: %w", err)
	}
	if len(strings.TrimSpace(string(token))) < 16 {
		return nil, errors.New("operator_token_file: the token must be at least 16 characters")
	}

	s.policy = policy.Default()
	if cfg.PolicyFile != "" {
		text, err := os.ReadFile(cfg.Path(cfg.PolicyFile))
		if err != nil {
			return nil, fmt.Errorf("couldn't read policy_file: %w", err)
		}
		if s.policy, err = policy.Load(text); err != nil {
			return nil, fmt.Errorf("policy_file: %w", err)
		}
	}
	log.Info("policy loaded", "hash", s.policy.Hash())

	analysts := map[string]gateway.Analyst{}
	for _, u := range cfg.Tenant.Units {
		for _, a := range u.Analysts {
			v, err := scram.ParseVerifier(a.SCRAM)
			if err != nil {
				return nil, fmt.Errorf("analyst %s: %w", a.Name, err)
			}
			analysts[a.Name] = gateway.Analyst{Unit: u.Name, Verifier: v}
		}
	}
	datasets := map[string]gateway.Dataset{}
	for _, d := range cfg.Datasets {
		datasets[d.Table] = gateway.Dataset{SubjectKey: d.SubjectKey, Category: d.Category, Protected: d.Protected}
	}
	sealer, err := seal.NewSealer(cfg.Overseers)
	if err != nil {
		return nil, fmt.Errorf("overseers: %w", err)
	}
	if s.approvers, err = authority.Verifiers(cfg.Approvers); err != nil {
		return nil, fmt.Errorf("approvers: %w", err)
	}
	backend, err := pgconn.ParseConfig(cfg.Backend.URL)
	if err != nil {
		return nil, fmt.Errorf("backend.url: %w", err)
	}
	clientTLS, err := cfg.ServerTLS()
	if err != nil {
		return nil, err
	}

	if s.control, err = control.Open(ctx, cfg.Control.URL); err != nil {
		return nil, err
	}
	log.Info("control state open", "database", cfg.ControlDatabase())

	// The control database stores what each entry keeps private (its
	// sealed detail and coverage), from the journal, after the entry is
	// durable: so it must be open first, and closed last.
	s.tlog, err = translog.Open(ctx, translog.Options{
		Dir:             cfg.Path(cfg.Log.Dir),
		SignerKey:       strings.TrimSpace(string(keyText)),
		Logger:          log.With("component", "log"),
		Witnesses:       witnesses(cfg.Log.Witnesses),
		MinCosignatures: cfg.Log.MinCosignatures,
		Sidecars:        s.storePrivate,
	})
	if err != nil {
		return nil, fmt.Errorf("couldn't open the transparency log: %w", err)
	}
	if s.tlog.Origin() != cfg.Log.Origin {
		return nil, fmt.Errorf("log.key_file signs for origin %q, but log.origin is %q", s.tlog.Origin(), cfg.Log.Origin)
	}
	log.Info("log open", "dir", cfg.Path(cfg.Log.Dir), "origin", cfg.Log.Origin)

	if s.scope, err = control.OpenScope(ctx, cfg.Backend.URL, cfg.Control.URL); err != nil {
		return nil, err
	}

	s.gateway, err = gateway.New(ctx, gateway.Config{
		Tenant:    cfg.Tenant.Name,
		Analysts:  analysts,
		Datasets:  datasets,
		Backend:   backend,
		Log:       s.tlog,
		State:     s.control,
		Scope:     s.scope,
		Seal:      sealer.Seal,
		Approvers: s.approvers,
		Policy:    s.policy,
		Logger:    log.With("component", "gateway"),

		MaxSessions:    cfg.MaxSessions,
		UnitCap:        cfg.Coverage.UnitCap,
		TenantCap:      cfg.Coverage.TenantCap,
		CoverageWindow: cfg.Coverage.Window.Duration,
		TLS:            clientTLS,
		RequireTLS:     cfg.TLS.Require,
	})
	if err != nil {
		return nil, err
	}

	if err := s.publishPolicy(ctx); err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	reg.MustRegister(s.gateway.Metrics()...)
	reg.MustRegister(s.tlog.Metrics()...)
	for _, u := range cfg.Tenant.Units {
		unit := u.Name
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "custodes_coverage_subjects",
			Help:        "Distinct subjects the unit received rows about within the coverage window (AUP-6).",
			ConstLabels: prometheus.Labels{"unit": unit},
		}, func() float64 {
			// The gateway's own count: the control database's trails it.
			return float64(s.gateway.Coverage(unit).Unit)
		}))
	}
	s.console = console.New(console.Config{
		LogDir:      cfg.Path(cfg.Log.Dir),
		Origin:      cfg.Log.Origin,
		VerifierKey: s.tlog.VerifierKey(),
		Caps:        console.Caps{Unit: cfg.Coverage.UnitCap, Tenant: cfg.Coverage.TenantCap},
		RuleTitles:  s.ruleTitles(),
		Token:       strings.TrimSpace(string(token)),
		Metrics:     reg,
		Health:      s.health,
		Operator:    s.consoleOperator(),
		Logger:      log.With("component", "console"),
	})
	ok = true
	return s, nil
}

func (s *Service) health(ctx context.Context) error {
	// A failed log denies every statement until a restart recovers it:
	// unhealthy, so that a supervisor restarts custodes.
	if err := s.tlog.Err(); err != nil {
		return fmt.Errorf("the transparency log has failed closed (restart custodes to recover it): %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.control.Ping(ctx)
}

// Control is the control state, for administration (the demo issues its
// authorities through it).
func (s *Service) Control() *control.DB { return s.control }

// Gateway is the gateway server.
func (s *Service) Gateway() *gateway.Server { return s.gateway }

// Policy is the policy in force.
func (s *Service) Policy() *policy.Policy { return s.policy }

// IssueAuthority checks a signed authority against the registered
// approvers, stores it and records its issue in the log, once: issuing an id
// that exists changes nothing and records nothing (created false).
func (s *Service) IssueAuthority(ctx context.Context, signed []byte) (created bool, index uint64, err error) {
	st, approver, err := authority.Verify(signed, s.approvers)
	if err != nil {
		return false, 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if st.Tenant != s.cfg.Tenant.Name {
		return false, 0, fmt.Errorf("%w: the authority is for tenant %s, not %s", ErrBadRequest, st.Tenant, s.cfg.Tenant.Name)
	}
	if err := s.checkTarget(st.Tenant, st.Unit); err != nil {
		return false, 0, err
	}
	for _, d := range st.Datasets {
		if d != "*" && !slices.ContainsFunc(s.cfg.Datasets, func(x config.Dataset) bool { return x.Table == d }) {
			return false, 0, fmt.Errorf("%w: %s is not a registered dataset", ErrBadRequest, d)
		}
	}
	a := control.FromStatement(st, approver, signed)
	if existing, err := s.control.Authority(ctx, a.ID); err == nil {
		if existing.Statement().ID == a.ID && string(existing.Signature) == string(signed) {
			return false, 0, nil
		}
		return false, 0, fmt.Errorf("%w: authority %s exists already", ErrBadRequest, a.ID)
	} else if !errors.Is(err, control.ErrNotFound) {
		return false, 0, err
	}
	datasets := a.Datasets
	if slices.Contains(datasets, "*") {
		datasets = nil
		for _, d := range s.cfg.Datasets {
			datasets = append(datasets, d.Table)
		}
	}
	scope := fmt.Sprint(len(a.Subjects))
	attr := "subjects"
	if a.MaxSubjects > 0 {
		attr, scope = "max_subjects", fmt.Sprint(a.MaxSubjects)
	}
	e := &record.Entry{
		Kind:          record.KindAuthorityIssued,
		Time:          time.Now().UTC().Truncate(time.Microsecond),
		Tenant:        a.Tenant,
		Unit:          a.Unit,
		AuthorityKind: a.Kind,
		Authority:     s.control.AuthorityCommitment(a.ID),
		Datasets:      datasets,
		Policy:        s.policy.Hash(),
		Attrs: sortedAttrs(map[string]string{
			attr:         scope,
			"not_after":  a.NotAfter.UTC().Format(time.RFC3339),
			"not_before": a.NotBefore.UTC().Format(time.RFC3339),
		}),
	}
	b, err := e.Marshal()
	if err != nil {
		return false, 0, fmt.Errorf("couldn't encode authority entry: %w", err)
	}
	// On the record first: an authority is never usable before its issue
	// is in the log.
	idx, err := s.tlog.Append(ctx, b)
	if err != nil {
		return false, 0, fmt.Errorf("couldn't record authority %s: %w", a.ID, err)
	}
	if _, err := s.control.InsertAuthority(ctx, a); err != nil {
		return false, idx, err
	}
	s.log.Info("authority issued", "kind", a.Kind, "unit", a.Unit, "approver", approver, "entry", idx)
	return true, idx, nil
}

// RevokeAuthority checks a signed revocation and revokes, on the record.
// Sessions bound to the authority are refused from their next statement.
func (s *Service) RevokeAuthority(ctx context.Context, signed []byte) (uint64, error) {
	r, approver, err := authority.VerifyRevocation(signed, s.approvers)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	a, err := s.control.Authority(ctx, r.ID)
	if errors.Is(err, control.ErrNotFound) || (err == nil && (a.Tenant != s.cfg.Tenant.Name || a.Status != "active")) {
		return 0, fmt.Errorf("%w: there is no active authority %s", ErrBadRequest, r.ID)
	}
	if err != nil {
		return 0, err
	}
	e := &record.Entry{
		Kind:          record.KindAuthorityRevoked,
		Time:          time.Now().UTC().Truncate(time.Microsecond),
		Tenant:        a.Tenant,
		Unit:          a.Unit,
		AuthorityKind: a.Kind,
		Authority:     s.control.AuthorityCommitment(a.ID),
		Policy:        s.policy.Hash(),
		Attrs:         []record.Attr{{Key: "reason", Value: r.Reason}},
	}
	b, err := e.Marshal()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	idx, err := s.tlog.Append(ctx, b)
	if err != nil {
		return 0, fmt.Errorf("couldn't record the revocation: %w", err)
	}
	if _, err := s.control.Revoke(ctx, a.Tenant, a.ID); err != nil {
		return idx, err
	}
	s.log.Warn("authority revoked", "unit", a.Unit, "approver", approver, "entry", idx)
	return idx, nil
}

// Authorities lists the tenant's authorities, newest first.
func (s *Service) Authorities(ctx context.Context) ([]*control.Authority, error) {
	return s.control.Authorities(ctx, s.cfg.Tenant.Name)
}

func sortedAttrs(m map[string]string) []record.Attr {
	var out []record.Attr
	for k, v := range m {
		out = append(out, record.Attr{Key: k, Value: v})
	}
	slices.SortFunc(out, func(a, b record.Attr) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// publishPolicy logs the policy in force the first time it takes effect:
// its hash, which every statement entry names, and its version number.
// The entry goes first; a crash before the version is stored only means it
// is published again on the next start.
func (s *Service) publishPolicy(ctx context.Context) error {
	hash := s.policy.Hash()
	v, err := s.control.PolicyVersion(ctx, hash)
	if err != nil || v > 0 {
		if v > 0 {
			s.log.Info("policy in force", "version", v, "hash", hash)
		}
		return err
	}
	if v, err = s.control.NextPolicyVersion(ctx); err != nil {
		return err
	}
	var ids []string
	for _, r := range s.policy.Rules() {
		ids = append(ids, r.ID)
	}
	e := &record.Entry{
		Kind:   record.KindPolicyPublished,
		Time:   time.Now().UTC().Truncate(time.Microsecond),
		Tenant: s.cfg.Tenant.Name,
		Rules:  ids,
		Policy: hash,
		Attrs:  []record.Attr{{Key: "version", Value: fmt.Sprint(v)}},
	}
	b, err := e.Marshal()
	if err != nil {
		return fmt.Errorf("couldn't encode policy entry: %w", err)
	}
	idx, err := s.tlog.Append(ctx, b)
	if err != nil {
		return fmt.Errorf("couldn't publish the policy in the log: %w", err)
	}
	s.log.Info("policy published", "version", v, "hash", hash, "entry", idx)
	return s.control.PublishedPolicy(ctx, hash, v, idx)
}

// Serve listens on the config's addresses and serves until ctx ends. ready,
// if not nil, is called once both listeners accept connections.
func (s *Service) Serve(ctx context.Context, ready func()) error {
	pgln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("couldn't listen for analysts on %s: %w", s.cfg.Listen, err)
	}
	httpln, err := net.Listen("tcp", s.cfg.HTTP)
	if err != nil {
		pgln.Close()
		return fmt.Errorf("couldn't listen for the console on %s: %w", s.cfg.HTTP, err)
	}
	// Bounded, as the gateway's sessions are (checkDescriptors): more wait
	// to be accepted.
	httpln = netutil.LimitListener(httpln, maxConsoleConns)
	hs := &http.Server{Handler: s.console, ReadHeaderTimeout: 10 * time.Second}
	gctx, stopGateway := context.WithCancel(ctx)
	defer stopGateway()
	gwDone := make(chan error, 1)
	httpDone := make(chan error, 1)
	// Authorities and suspensions are cached while serving, with every
	// change heard of through the control database (control.DB.Watch).
	s.control.Watch(gctx, s.log.With("component", "control"))
	go func() { gwDone <- s.gateway.Serve(gctx, pgln) }()
	go func() {
		if err := hs.Serve(httpln); !errors.Is(err, http.ErrServerClosed) {
			httpDone <- fmt.Errorf("console: %w", err)
			return
		}
		httpDone <- nil
	}()
	go s.runSampler(gctx)
	s.log.Info("serving", "gateway", pgln.Addr().String(), "console", httpln.Addr().String())
	if ready != nil {
		ready()
	}
	var first error
	gwEnded := false
	select {
	case first = <-gwDone:
		gwEnded = true
	case first = <-httpDone:
	case <-ctx.Done():
	}
	// Stop taking work, then wait for every session to end: the log and
	// control state they use are closed only after Serve returns.
	stopGateway()
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	hs.Shutdown(shutdown)
	if !gwEnded {
		if err := <-gwDone; first == nil {
			first = err
		}
	}
	return first
}

// Close releases everything Open acquired. The log goes first: closing it
// stores the last entries' private parts in the control database.
func (s *Service) Close() {
	if s.tlog != nil {
		if err := s.tlog.Close(); err != nil {
			s.log.Error("couldn't close the log", "err", err)
		}
	}
	if s.scope != nil {
		s.scope.Close()
	}
	if s.control != nil {
		s.control.Close()
	}
}

// storePrivate is the log's sidecar store: the gateway journals each
// entry's control.Private beside it.
func (s *Service) storePrivate(ctx context.Context, sides []translog.Sidecar) error {
	ps := make([]*control.Private, 0, len(sides))
	for _, sd := range sides {
		p, err := control.ParsePrivate(sd.Data)
		if err != nil {
			// Written by this program, read back from its own journal: a
			// parse failure is damage, and retrying will not mend it.
			s.log.Error("skipping a damaged private record in the journal", "entry", sd.Index, "err", err)
			continue
		}
		ps = append(ps, p)
	}
	return s.control.StorePrivate(ctx, ps)
}

func witnesses(ws []config.Witness) []translog.Witness {
	var out []translog.Witness
	for _, w := range ws {
		out = append(out, translog.Witness{URL: w.URL, Key: w.Key})
	}
	return out
}
