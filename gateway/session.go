package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/custodes/custodes/analysis"
)

// session is one analyst's connection. It is owned by the goroutine running
// run; only cancelBackend may be called from elsewhere.
type session struct {
	srv    *Server
	client net.Conn
	fe     *pgproto3.Backend // speaks to the client: we are its server

	backend    net.Conn
	be         *pgproto3.Frontend // speaks to the backend: we are its client
	backendPID uint32
	backendKey []byte
	scopeKey   string // the backend's custodes.scope_key: binds its scope row to it

	// clientPID and clientKey are what the client was given in
	// BackendKeyData; they map to the backend's through the Server.
	clientPID uint32
	clientKey []byte

	analyst, unit, pseudonym string
	authority                string // custodes.authority, "" when unset
	txStatus                 byte   // from the backend's last ReadyForQuery

	// out holds encoded messages for the client not yet written. Rows of a
	// statement stay here until its entry is durable.
	out []byte

	// pending are the operations sent to the backend whose responses have
	// not all arrived, oldest first.
	pending []*op
	// skipping: an error was sent in this extended-protocol batch; the
	// client's messages are ignored until Sync, as PostgreSQL does.
	skipping bool
	// suppress: the client has been sent an error in place of the backend's
	// outcome; the backend's output is dropped until its ReadyForQuery.
	suppress bool

	// Extended-protocol statements and portals by name, SQL-level prepared
	// statements and cursors by name: what each will run, for judging.
	stmts   map[string]*analysis.Statement
	portals map[string]*portal
	sqlPrep map[string]*analysis.Statement
	cursors map[string]*analysis.Statement

	closeOnce sync.Once
}

// portal is a bound statement with its parameters (kept for the sealed
// detail record).
type portal struct {
	stmt   *analysis.Statement
	params [][]byte
}

// run serves the session until the client leaves or a connection fails.
func (s *session) run(ctx context.Context) error {
	s.stmts = map[string]*analysis.Statement{}
	s.portals = map[string]*portal{}
	s.sqlPrep = map[string]*analysis.Statement{}
	s.cursors = map[string]*analysis.Statement{}
	s.send(&pgproto3.BackendKeyData{ProcessID: s.clientPID, SecretKey: s.clientKey})
	s.send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := s.flush(); err != nil {
		return err
	}
	for {
		msg, err := s.fe.Receive()
		if err != nil {
			return fmt.Errorf("couldn't read from client: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.Terminate:
			s.be.Send(&pgproto3.Terminate{})
			s.be.Flush()
			return nil
		case *pgproto3.Query:
			err = s.simpleQuery(ctx, m.String)
		case *pgproto3.Sync:
			err = s.sync(ctx)
		case *pgproto3.Flush:
			err = s.flushBatch(ctx)
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			// The gateway never lets a COPY FROM STDIN start, so these
			// come from a client that sent its data without waiting for
			// the CopyInResponse it was refused: ignored, as PostgreSQL
			// ignores them outside COPY.
			continue
		default:
			if s.skipping {
				continue
			}
			switch m := msg.(type) {
			case *pgproto3.Parse:
				err = s.parse(ctx, m)
			case *pgproto3.Bind:
				err = s.bind(ctx, m)
			case *pgproto3.Describe:
				err = s.describe(ctx, m)
			case *pgproto3.Execute:
				err = s.execute(ctx, m)
			case *pgproto3.Close:
				err = s.closeObject(ctx, m)
			case *pgproto3.FunctionCall:
				// The fast-path interface calls a function by OID: nothing
				// to analyse, so nothing to allow.
				err = s.denyInBatch(ctx, s.refuse(ctx, "", "unknown", "AUP-7", "the fast-path function call interface is not available", "call functions in SQL"))
			default:
				return fmt.Errorf("unexpected message %T", msg)
			}
		}
		if err != nil {
			if errors.Is(err, errBackendLost) {
				// Whatever is queued may hold rows not yet recorded: drop
				// it, and say why the session ends, as PostgreSQL would.
				s.out = s.out[:0]
				s.send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08006",
					Message: "custodes: the connection to the database was lost; nothing more was released",
					Hint:    "reconnect"})
				s.flush()
			}
			if errors.Is(err, errMessageTooLarge) {
				s.send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "54000",
					Message: fmt.Sprintf("custodes: the database sent a row larger than %d MiB, which can be neither held nor skipped; the session ends, and nothing of it was released", s.srv.cfg.HoldLimit>>20),
					Hint:    "reconnect, and select less per row"})
				s.flush()
			}
			return err
		}
	}
}

// errBackendLost marks a failure to read from or write to the backend
// connection: the session cannot go on.
var errBackendLost = errors.New("the connection to the database was lost")

func (s *session) beFlush() error {
	if err := s.be.Flush(); err != nil {
		return fmt.Errorf("couldn't write to backend: %w: %w", errBackendLost, err)
	}
	return nil
}

func (s *session) beReceive() (pgproto3.BackendMessage, error) {
	msg, err := s.be.Receive()
	if err != nil {
		var big *pgproto3.ExceededMaxBodyLenErr
		if errors.As(err, &big) {
			return nil, fmt.Errorf("couldn't read from backend: %w: %w", errMessageTooLarge, err)
		}
		return nil, fmt.Errorf("couldn't read from backend: %w: %w", errBackendLost, err)
	}
	return msg, nil
}

// errMessageTooLarge marks a backend message longer than HoldLimit (the
// backend's frontend is capped at it): it could never be released, and it
// is not read, so the backend stream stops in the middle of a message and
// the session must end.
var errMessageTooLarge = errors.New("the database sent a message larger than the hold limit")

// send queues a message for the client. It does not write.
func (s *session) send(msg pgproto3.BackendMessage) {
	var err error
	s.out, err = msg.Encode(s.out)
	if err != nil {
		// Only a message too large for the protocol fails to encode; those
		// come from the backend, which could not have sent them.
		panic(fmt.Sprintf("gateway: couldn't encode %T: %v", msg, err))
	}
}

// flush writes everything queued for the client.
func (s *session) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	// A client that stops reading must not hold its backend connection
	// and held result for ever.
	s.client.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	_, err := s.client.Write(s.out)
	s.out = s.out[:0]
	if cap(s.out) > 1<<20 {
		s.out = nil // don't keep a large buffer for a long idle session
	}
	if err != nil {
		return fmt.Errorf("couldn't write to client: %w", err)
	}
	return nil
}

// fatal sends a FATAL error during start-up.
func (s *session) fatal(code, msg, hint string) {
	s.send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg, Hint: hint})
	s.flush()
}

// sendError queues an ERROR the gateway raises itself (not a denial).
func (s *session) sendError(code, msg string) {
	s.send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg})
}

func (s *session) readyForQuery() {
	st := s.txStatus
	if st == 0 {
		st = 'I'
	}
	s.send(&pgproto3.ReadyForQuery{TxStatus: st})
}

// cancelBackend asks the backend to cancel this session's running query,
// over a new connection, as the protocol requires.
func (s *session) cancelBackend() {
	cfg := s.srv.cfg.Backend
	conn, err := cfg.DialFunc(context.Background(), "tcp", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	if err != nil {
		s.srv.log.Warn("couldn't reach backend to cancel", "err", err)
		return
	}
	defer conn.Close()
	buf, err := (&pgproto3.CancelRequest{ProcessID: s.backendPID, SecretKey: s.backendKey}).Encode(nil)
	if err == nil {
		conn.Write(buf)
		// The backend closes the connection when it has read the request.
		conn.Read(make([]byte, 1))
	}
}

func (s *session) close() {
	s.closeOnce.Do(func() {
		if s.backend != nil {
			s.backend.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.srv.cfg.Scope.ClearScope(ctx, s.backendPID); err != nil {
				s.srv.log.Warn("couldn't clear scope of a closed session", "err", err)
			}
			cancel()
		}
		s.client.Close()
	})
}

// errProtocol ends a session whose backend sent what the gateway never
// relays (COPY data, for one): failing closed means hanging up.
var errProtocol = errors.New("backend sent a message the gateway does not relay")
