// Package pgcluster runs a private PostgreSQL cluster from the system's own
// server binaries, for the demo, integration tests and benchmarks.
//
// A cluster lives in one data directory. [Start] initialises it with initdb
// the first time (superuser postgres, SCRAM authentication, a random
// password, UTF8, locale C) and reuses it afterwards:
//
//	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: "demo/pg", Logger: logger})
//	if err != nil {
//		return err
//	}
//	defer c.Stop()
//	conn, err := pgx.Connect(ctx, c.SuperuserURL("postgres"))
//
// The server listens on 127.0.0.1 only, plus a Unix socket in the data
// directory when its path is short enough. Its log is appended to
// postgres.log in the data directory; when start-up fails the error quotes
// the lines written by that attempt. The data directory also holds two
// files of ours: custodes-superuser.password (mode 0600) and custodes.port,
// the port to reuse on the next start.
//
// initdb and postgres refuse to run as root, so when the caller is root the
// server runs as the system user postgres: the data directory is owned by
// it, and every directory above it must be traversable by it. Start checks
// this up front rather than letting the server fail obscurely.
//
// postgres is a child process in its own process group, so a Ctrl-C at the
// terminal reaches only the caller, who decides when to call [Cluster.Stop].
// On Linux the kernel asks it to shut down if the caller dies without
// stopping it. A server killed outright leaves a stale postmaster.pid, which
// PostgreSQL itself recognises on the next start; it then runs crash
// recovery. Start waits a few seconds for an earlier server of the same
// directory, or the backends of a killed one, to exit before giving up.
package pgcluster
