package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure [Start].
type Options struct {
	// Dir is the data directory. It is created and initialised with initdb
	// if it is missing or empty, and reused if it holds PG_VERSION.
	Dir string
	// Port is the TCP port on 127.0.0.1. Zero picks a free one, preferring
	// the one the cluster used last time.
	Port int
	// BinDir holds initdb, pg_ctl and postgres; "" searches as
	// [FindBinaries] does.
	BinDir string
	// Logger receives progress and diagnostics; nil discards them.
	Logger *slog.Logger
	// Settings are extra server settings (such as max_connections), given
	// on the postgres command line so that they win over postgresql.conf.
	// listen_addresses, port and unix_socket_directories are ours to set.
	Settings map[string]string
}

// Cluster is a running PostgreSQL server started by [Start].
type Cluster struct {
	dir      string
	port     int
	password string
	log      *slog.Logger
	srv      *server

	stopOnce sync.Once
	stopErr  error
}

const host = "127.0.0.1"

// Start initialises the cluster in opts.Dir if needed, starts postgres and
// waits until it accepts connections, giving up when ctx is done or after a
// few minutes.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Dir == "" {
		return nil, errors.New("couldn't start PostgreSQL: no data directory given")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("couldn't resolve data directory %q: %w", opts.Dir, err)
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("couldn't start PostgreSQL: invalid port %d", opts.Port)
	}
	if err := checkSettings(opts.Settings); err != nil {
		return nil, err
	}
	bin, err := FindBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if acct.name != "" {
		log.Info("running PostgreSQL as system user "+acct.name+" because initdb refuses root", "uid", acct.uid)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("couldn't create the parent of data directory %s: %w", dir, err)
	}
	if err := acct.checkTraversable(dir); err != nil {
		return nil, err
	}
	password, err := prepare(ctx, dir, bin, acct, log)
	if err != nil {
		return nil, err
	}

	// Two failures pass with time: a port we picked may be taken before
	// postgres binds it, and an earlier server of this directory may still
	// be shutting down, or the backends of a killed one still exiting.
	portRetries, lingerUntil, waited := 0, time.Now().Add(lingerWait), false
	for {
		port := opts.Port
		if port == 0 {
			if port, err = choosePort(dir, portRetries > 0); err != nil {
				return nil, err
			}
		}
		c := &Cluster{dir: dir, port: port, password: password, log: log}
		c.srv, err = startServer(ctx, c, bin, acct, serverArgs(c, opts.Settings))
		switch {
		case err == nil:
			if err := rememberPort(dir, port, acct); err != nil {
				log.Warn("couldn't remember the port for the next start", "err", err)
			}
			return c, nil
		case errors.Is(err, errPortTaken) && opts.Port == 0 && portRetries < 2:
			portRetries++
			log.Warn("port taken while PostgreSQL started; trying another", "port", port)
		case errors.Is(err, errOldServer) && time.Now().Before(lingerUntil):
			if !waited {
				waited = true
				log.Warn("an earlier server of this data directory is still running; waiting for it to exit", "timeout", lingerWait)
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w (gave up waiting: %w)", err, context.Cause(ctx))
			case <-time.After(250 * time.Millisecond):
			}
		default:
			return nil, err
		}
	}
}

// lingerWait bounds how long Start waits for an earlier server of the same
// data directory to exit.
const lingerWait = 10 * time.Second

// managed are the settings Start fixes: they are what keeps the server
// private to this machine and findable by us.
var managed = []string{"listen_addresses", "port", "unix_socket_directories"}

var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

func checkSettings(settings map[string]string) error {
	for name, value := range settings {
		if !settingName.MatchString(name) {
			return fmt.Errorf("couldn't start PostgreSQL: invalid setting name %q", name)
		}
		if slices.Contains(managed, strings.ToLower(name)) {
			return fmt.Errorf("couldn't start PostgreSQL: setting %s is managed by pgcluster", name)
		}
		if strings.ContainsRune(value, 0) {
			return fmt.Errorf("couldn't start PostgreSQL: setting %s contains a NUL byte", name)
		}
	}
	return nil
}

// maxSocketPath is the room in sockaddr_un.sun_path, less the final NUL.
const maxSocketPath = 107

func serverArgs(c *Cluster, settings map[string]string) []string {
	socketDir := c.dir
	if len(filepath.Join(c.dir, fmt.Sprintf(".s.PGSQL.%d", c.port))) > maxSocketPath {
		c.log.Info("data directory path too long for a Unix socket; TCP only", "dir", c.dir)
		socketDir = ""
	}
	args := []string{"-D", c.dir, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=" + host,
		"-c", "unix_socket_directories=" + socketDir,
		"-c", "fsync=on",
	}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", name+"="+settings[name])
	}
	return args
}

// Stop shuts the server down (fast shutdown: sessions are ended, work is
// checkpointed) and waits for it to exit. Later calls return the first
// call's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.srv.stop() })
	return c.stopErr
}

// Port is the server's TCP port on [Cluster.Host].
func (c *Cluster) Port() int { return c.port }

// Host is the address the server listens on: always 127.0.0.1.
func (c *Cluster) Host() string { return host }

// Dir is the absolute path of the data directory.
func (c *Cluster) Dir() string { return c.dir }

// SuperuserURL returns a connection URL for the superuser postgres to
// database db, with its password and sslmode=disable.
func (c *Cluster) SuperuserURL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", c.password),
		Host:     net.JoinHostPort(host, strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}
