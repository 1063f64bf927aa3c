// Package setup prepares an existing PostgreSQL server for custodes: the
// gateway's backend role, the control role and database, the control schema,
// and the grants on registered datasets. It is what `custodes setup` runs and
// what the demo runs; every step is idempotent, so it is safe to run again
// after any change to the config.
//
// Setup connects with the config's backend.admin_url (a superuser). Nothing
// else in custodes uses that connection.
package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/control"
)

// Run applies every step. Each step logs what it did.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if cfg.Backend.AdminURL == "" {
		return errors.New("backend.admin_url is required for setup")
	}
	gwUser, gwPass, err := userOf(cfg.Backend.URL)
	if err != nil {
		return fmt.Errorf("backend.url: %w", err)
	}
	ctlUser, ctlPass, err := userOf(cfg.Control.URL)
	if err != nil {
		return fmt.Errorf("control.url: %w", err)
	}
	if gwUser == ctlUser {
		return errors.New("backend.url and control.url must use different roles")
	}

	admin, err := pgx.Connect(ctx, cfg.Backend.AdminURL)
	if err != nil {
		return fmt.Errorf("couldn't connect with backend.admin_url: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))

	// Roles. The gateway's role can log in and read registered datasets, and
	// nothing else: no superuser, no BYPASSRLS, no role creation, no inherited
	// rights.
	if err := ensureRole(ctx, admin, gwUser, gwPass, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS"); err != nil {
		return err
	}
	// The control role owns its database; it inherits, because the owner's
	// rights on schema public come through pg_database_owner.
	if err := ensureRole(ctx, admin, ctlUser, ctlPass, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS"); err != nil {
		return err
	}
	log.Info("roles ready", "gateway", gwUser, "control", ctlUser)

	// The control database: created if missing, owned by the control role,
	// closed to everyone else (the gateway's backend role in particular).
	// On its own server if control.admin_url names one; the control role
	// is then created there too (it also stays on the agency's server, for
	// the scope table).
	ctlAdmin := admin
	if cfg.Control.AdminURL != "" {
		if ctlAdmin, err = pgx.Connect(ctx, cfg.Control.AdminURL); err != nil {
			return fmt.Errorf("couldn't connect with control.admin_url: %w", err)
		}
		defer ctlAdmin.Close(context.WithoutCancel(ctx))
		if err := ensureRole(ctx, ctlAdmin, ctlUser, ctlPass, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS"); err != nil {
			return err
		}
		log.Info("control role ready on the control database's server", "control", ctlUser)
	}
	ctlDB := cfg.ControlDatabase()
	var exists bool
	if err := ctlAdmin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, ctlDB).Scan(&exists); err != nil {
		return fmt.Errorf("couldn't look for control database: %w", err)
	}
	if !exists {
		if _, err := ctlAdmin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s ENCODING 'UTF8'`, ident(ctlDB), ident(ctlUser))); err != nil {
			return fmt.Errorf("couldn't create control database: %w", err)
		}
		log.Info("created control database", "database", ctlDB)
	}
	for _, q := range []string{
		fmt.Sprintf(`ALTER DATABASE %s OWNER TO %s`, ident(ctlDB), ident(ctlUser)),
		fmt.Sprintf(`REVOKE ALL ON DATABASE %s FROM PUBLIC`, ident(ctlDB)),
		fmt.Sprintf(`GRANT CONNECT, TEMPORARY ON DATABASE %s TO %s`, ident(ctlDB), ident(ctlUser)),
	} {
		if _, err := ctlAdmin.Exec(ctx, q); err != nil {
			return fmt.Errorf("couldn't secure control database: %w", err)
		}
	}

	// The control schema, applied as the control role so it owns it.
	ctl, err := pgx.Connect(ctx, cfg.Control.URL)
	if err != nil {
		return fmt.Errorf("couldn't connect with control.url: %w", err)
	}
	defer ctl.Close(context.WithoutCancel(ctx))
	if err := control.Migrate(ctx, ctl); err != nil {
		return err
	}
	log.Info("control schema up to date", "database", ctlDB)

	// The agency database: the gateway's role may connect and read each
	// registered dataset; it may not create anything, not even temporary
	// tables.
	backendDB := cfg.BackendDatabase()
	agencyAdmin, err := connectTo(ctx, cfg.Backend.AdminURL, backendDB)
	if err != nil {
		return fmt.Errorf("couldn't connect to the agency database %s as admin: %w", backendDB, err)
	}
	defer agencyAdmin.Close(context.WithoutCancel(ctx))
	stmts := []string{
		fmt.Sprintf(`REVOKE ALL ON DATABASE %s FROM PUBLIC`, ident(backendDB)),
		fmt.Sprintf(`GRANT CONNECT ON DATABASE %s TO %s`, ident(backendDB), ident(gwUser)),
		`REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
		// Unqualified names are resolved by the gateway as public.x; the
		// backend must resolve them the same way.
		fmt.Sprintf(`ALTER ROLE %s IN DATABASE %s SET search_path = public`, ident(gwUser), ident(backendDB)),
	}
	for _, d := range cfg.Datasets {
		schema, _, _ := strings.Cut(d.Table, ".")
		stmts = append(stmts,
			fmt.Sprintf(`GRANT USAGE ON SCHEMA %s TO %s`, ident(schema), ident(gwUser)),
			fmt.Sprintf(`GRANT SELECT ON %s TO %s`, qualified(d.Table), ident(gwUser)),
		)
	}
	for _, q := range stmts {
		if _, err := agencyAdmin.Exec(ctx, q); err != nil {
			return fmt.Errorf("couldn't grant on agency database (%s): %w", firstWords(q), err)
		}
	}
	log.Info("grants ready", "database", backendDB, "datasets", len(cfg.Datasets))

	if err := installScope(ctx, agencyAdmin, cfg, gwUser, ctlUser); err != nil {
		return err
	}
	log.Info("row-level security ready", "database", backendDB)
	return nil
}

func ensureRole(ctx context.Context, admin *pgx.Conn, name, password, attrs string) error {
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("couldn't look up role %s: %w", name, err)
	}
	verb := "ALTER"
	if !exists {
		verb = "CREATE"
	}
	// The password travels as a literal because utility statements take no
	// parameters; quoteLiteral escapes it. PostgreSQL hashes it with SCRAM.
	q := fmt.Sprintf(`%s ROLE %s WITH %s PASSWORD %s`, verb, ident(name), attrs, literal(password))
	if _, err := admin.Exec(ctx, q); err != nil {
		return fmt.Errorf("couldn't %s role %s: %w", strings.ToLower(verb), name, err)
	}
	return nil
}

func userOf(u string) (user, password string, err error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", "", errors.New("not a URL")
	}
	if p.User == nil || p.User.Username() == "" {
		return "", "", errors.New("the URL names no user")
	}
	pw, ok := p.User.Password()
	if !ok || pw == "" {
		return "", "", errors.New("the URL has no password")
	}
	return p.User.Username(), pw, nil
}

func connectTo(ctx context.Context, adminURL, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return nil, err
	}
	cfg.Database = db
	return pgx.ConnectConfig(ctx, cfg)
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func qualified(table string) string {
	schema, name, _ := strings.Cut(table, ".")
	return pgx.Identifier{schema, name}.Sanitize()
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func firstWords(q string) string {
	f := strings.Fields(q)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}
