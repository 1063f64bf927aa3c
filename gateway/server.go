// Package gateway is the PostgreSQL-wire front door analysts connect to
// instead of the agency's database.
//
// For each client connection it authenticates the analyst (SCRAM-SHA-256),
// opens one backend connection as the gateway's own role, and then judges
// every statement of every query string and every extended-protocol Parse and
// Execute before anything reaches the backend. A statement is forwarded only
// when the acceptable-use policy allows it; its result is held until the
// statement completes, the decision is durably recorded in the transparency
// log, and only then are rows released. A denial is an ordinary PostgreSQL
// error, SQLSTATE 42501, that names the rule and the log entry recording it.
//
// Anything the gateway cannot judge, it denies: an unparseable statement, a
// policy that cannot be evaluated, a log that cannot be appended.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/policy"
	"github.com/custodes/custodes/scram"
)

// Recorder is the transparency log as the gateway uses it.
type Recorder interface {
	// Append durably sequences entry as the log's next entry and returns its
	// index. Once Append returns nil the entry survives a crash and its index
	// is final; on error nothing was recorded and the gateway must deny.
	Append(ctx context.Context, entry []byte) (uint64, error)
	// AppendWith is Append with a private sidecar, durable with the entry
	// and stored in the control state behind it (see control.Private);
	// the log never publishes it.
	AppendWith(ctx context.Context, entry, side []byte) (uint64, error)
	// Origin is the log's name, quoted in every denial.
	Origin() string
}

// State is the control state the gateway reads and writes.
type State interface {
	// Authority returns an authority by id, or control.ErrNotFound.
	Authority(ctx context.Context, id string) (*control.Authority, error)
	// Suspension says whether tenant or unit is suspended.
	Suspension(ctx context.Context, tenant, unit string) (bool, string, error)
	// Pseudonym is the public, keyed name of an analyst.
	Pseudonym(tenant, analyst string) string
	// AuthorityCommitment is the public commitment to an authority id.
	AuthorityCommitment(id string) string
	// SubjectToken is the keyed pseudonymous token of a subject.
	SubjectToken(tenant, subject string) string
	// The coverage stored so far, which the gateway counts on from there.
	SightingSource
}

// Scope is the database-enforced scope of each backend session (row-level
// security on every registered dataset).
type Scope interface {
	// SetScope lets backend pid, started with scope key key (its
	// custodes.scope_key), see rows of every subject (unrestricted) or only
	// of subjects. It must be in force in the backend once it returns.
	SetScope(ctx context.Context, pid uint32, key string, unrestricted bool, subjects []string) error
	// ClearScope leaves backend pid seeing no person-level row.
	ClearScope(ctx context.Context, pid uint32) error
}

// Policy is the acceptable-use policy.
type Policy interface {
	Decide(r *policy.Request) policy.Decision
	Hash() string
}

// Analyst is one person allowed to connect.
type Analyst struct {
	Unit     string
	Verifier *scram.Verifier
}

// Dataset is a registered dataset.
type Dataset struct {
	SubjectKey string
	Category   string
	Protected  []string
}

// Config is what a Server needs. All fields are required unless noted.
type Config struct {
	Tenant   string
	Analysts map[string]Analyst
	// Datasets by "schema.table".
	Datasets map[string]Dataset
	// Backend connects to the agency database as the gateway's role. Its
	// Database is the only database name clients may ask for.
	Backend *pgconn.Config

	Log    Recorder
	State  State
	Scope  Scope
	Policy Policy
	// Seal encrypts a detail record to the overseers before it is stored.
	Seal func(plaintext []byte) ([]byte, error)
	// Approvers verify authorities: one whose approver signature does not
	// verify, or does not cover exactly its stored fields, is not honoured.
	Approvers note.Verifiers
	Logger    *slog.Logger

	// UnitCap and TenantCap bound distinct subjects within CoverageWindow
	// (AUP-6); 0 is no cap.
	UnitCap, TenantCap int64
	CoverageWindow     time.Duration

	// HoldLimit bounds the bytes of one statement's result held before
	// release; a larger result is stopped. Default 64 MiB.
	HoldLimit int
	// StartupTimeout bounds the time from accept to an authenticated
	// session. Default 10s.
	StartupTimeout time.Duration
	// MaxMessage bounds one client message (a query string, a Bind's
	// parameters): parsing cost grows with length, and a targeted query is
	// short. Default 1 MiB.
	MaxMessage int
	// MaxSessions bounds the client connections served at once (each
	// holds a backend connection and up to HoldLimit of held result):
	// one more is refused at start-up with SQLSTATE 53300, as
	// PostgreSQL refuses one over max_connections. Default
	// DefaultMaxSessions.
	MaxSessions int
	// WriteTimeout bounds one write to a client: a client that stops
	// reading its results is disconnected after it, freeing its backend
	// connection. Default 60s.
	WriteTimeout time.Duration

	// TLS, when set, is offered to clients that ask (SSLRequest, or
	// direct TLS with ALPN "postgresql"); TLS 1.2 at least. Optional.
	TLS *tls.Config
	// RequireTLS refuses clients that do not use TLS. Needs TLS.
	RequireTLS bool
	// Logins bounds failed logins (see LoginLimits); zero is the defaults.
	Logins LoginLimits
}

// Server accepts analysts' connections. It owns the registry of open
// sessions, which CancelRequests are routed through.
type Server struct {
	cfg Config
	log *slog.Logger
	cat *catalog // immutable after New
	m   *metrics
	cov *coverage
	// analyses remembers recent statement texts' analyses.
	analyses analyses
	// verified and signedPtr remember authority signature checks (see
	// signed).
	verified  sync.Map
	signedPtr ptrMemo
	// front is TLS and the lockout of failed logins (see tls.go, auth.go).
	front *front

	// conns counts client connections open, in start-up or served.
	conns atomic.Int64

	mu       sync.Mutex
	sessions map[uint64]*session // by the (pid, key) the client was given
	wg       sync.WaitGroup
}

// New checks cfg, reads the registered datasets from the backend's
// catalog, and returns a Server.
func New(ctx context.Context, cfg Config) (*Server, error) {
	switch {
	case cfg.Backend == nil:
		return nil, errors.New("gateway: no backend config")
	case cfg.Log == nil || cfg.State == nil || cfg.Policy == nil || cfg.Scope == nil || cfg.Seal == nil:
		return nil, errors.New("gateway: log, state, scope, policy and seal are required")
	case cfg.Tenant == "":
		return nil, errors.New("gateway: no tenant")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HoldLimit == 0 {
		cfg.HoldLimit = 64 << 20
	}
	if cfg.StartupTimeout == 0 {
		cfg.StartupTimeout = 10 * time.Second
	}
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = 1 << 20
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.CoverageWindow == 0 {
		cfg.CoverageWindow = 30 * 24 * time.Hour
	}
	front, err := newFront(&cfg)
	if err != nil {
		return nil, err
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg.Backend)
	if err != nil {
		return nil, fmt.Errorf("couldn't connect to the backend as the gateway's role: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	cat, err := loadCatalog(ctx, conn, cfg.Datasets)
	if err != nil {
		return nil, err
	}
	srv := &Server{cfg: cfg, log: cfg.Logger, cat: cat, sessions: map[uint64]*session{}, cov: newCoverage(cfg.CoverageWindow), front: front}
	if err := srv.cov.load(ctx, cfg.State, cfg.Tenant); err != nil {
		return nil, fmt.Errorf("couldn't load coverage: %w", err)
	}
	srv.m = newMetrics(srv)
	return srv, nil
}

// DefaultMaxSessions is Config.MaxSessions when it is 0.
const DefaultMaxSessions = 500

// Serve accepts connections on ln until ctx is done or ln fails, then closes
// every session and waits for them.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); ln.Close() }()
	go s.refreshCoverage(ctx)
	a := &acceptor{ln: ln, log: s.log, sleep: sleepCtx}
	for {
		conn, err := a.accept(ctx)
		if err != nil {
			cancel()
			s.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("couldn't accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, conn)
		}()
	}
}

// handle runs one client connection to its end.
func (s *Server) handle(ctx context.Context, conn net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer conn.Close()
	// A cancelled server context unblocks reads by closing the socket.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	s.conns.Add(1)
	defer s.conns.Add(-1)

	sess, err := s.startup(ctx, conn)
	if err != nil {
		if !errors.Is(err, errHandled) {
			s.log.Debug("startup failed", "remote", conn.RemoteAddr(), "err", err)
		}
		return
	}
	if sess == nil { // a CancelRequest connection, served
		return
	}
	s.register(sess)
	defer s.unregister(sess)
	defer sess.close()
	if err := sess.run(ctx); err != nil && ctx.Err() == nil {
		s.log.Debug("session ended", "analyst", sess.analyst, "err", err)
	}
}

func (s *Server) register(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		var b [8]byte
		rand.Read(b[:])
		sess.clientPID = binary.BigEndian.Uint32(b[:4]) & 0x7fffffff
		sess.clientKey = b[4:8]
		k := cancelKey(sess.clientPID, sess.clientKey)
		if _, taken := s.sessions[k]; !taken {
			s.sessions[k] = sess
			return
		}
	}
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, cancelKey(sess.clientPID, sess.clientKey))
}

func cancelKey(pid uint32, key []byte) uint64 {
	if len(key) != 4 {
		return 0 // never issued: keys the gateway gives out are 4 bytes
	}
	return uint64(pid)<<32 | uint64(binary.BigEndian.Uint32(key))
}

// cancel routes a client's CancelRequest to its session's backend query.
// Unknown keys are ignored, as PostgreSQL does.
func (s *Server) cancel(pid uint32, key []byte) {
	s.mu.Lock()
	sess := s.sessions[cancelKey(pid, key)]
	s.mu.Unlock()
	if sess != nil {
		sess.cancelBackend()
	}
}

// Sessions is the number of open sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
