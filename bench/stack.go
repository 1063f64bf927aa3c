package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/custodes/custodes/authority"
	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/internal/deployment"
	"github.com/custodes/custodes/pgcluster"
)

// The names the load uses.
const (
	agencyDB    = deployment.AgencyDB
	controlDB   = deployment.ControlDB
	analyst     = "alice" // password = name, unit newark
	authorityID = "W-DEMO-1"
)

// startDeployment starts the private PostgreSQL, with room for the
// gateway's sessions and pgbench's at once, with the demo data, and sets
// custodes up with the demo's authority W-DEMO-1 for persons 101 to
// 100+subjects.
func startDeployment(ctx context.Context, o *options, dir string, log *slog.Logger) (*deployment.Deployment, error) {
	listed := make([]int64, o.subjects)
	for i := range listed {
		listed[i] = 101 + int64(i)
	}
	return deployment.Start(ctx, deployment.Options{
		Dir:            dir,
		Persons:        o.persons,
		MaxConnections: 400,
		Origin:         "bench.custodes/agency",
		Approver:       "bench-approver",
		// The demo's unit cap, or room for the subjects the load reads:
		// caps are checked on every statement, as in a deployment.
		Coverage: config.Coverage{UnitCap: max(200, 2*int64(o.subjects)), TenantCap: max(1000, 4*int64(o.subjects))},
		Authorities: []*authority.Statement{{ID: authorityID, Kind: "judicial_warrant", Reference: "BENCH-1", Unit: "newark",
			Datasets: []string{"*"}, Subjects: listed}},
		Say:    progress,
		Logger: log,
	})
}

// progress prints the deployment's progress lines as the bench's own.
func progress(format string, args ...any) { say("bench: "+format, args...) }

// superuser splits the cluster's superuser URL into what pgbench and
// PgBouncer take.
func superuser(c *pgcluster.Cluster) (user, password string) {
	u, err := url.Parse(c.SuperuserURL("postgres"))
	if err != nil || u.User == nil {
		return "postgres", ""
	}
	pw, _ := u.User.Password()
	return u.User.Username(), pw
}

// gatewayRole is the user and password of the gateway's backend URL: the
// ceiling connects as the gateway's role, under its row-level security.
func gatewayRole(backendURL string) (user, password string, err error) {
	u, err := url.Parse(backendURL)
	if err != nil || u.User == nil {
		return "", "", fmt.Errorf("couldn't read the gateway's role from backend.url")
	}
	pw, _ := u.User.Password()
	return u.User.Username(), pw, nil
}
