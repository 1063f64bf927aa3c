package main

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/custodes/custodes/authority"
	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/internal/deployment"
)

// deploy brings everything up: the private PostgreSQL with the demo data,
// custodes set up with the load's authorities, and the gateway. On error it
// returns what it started, for the caller to close.
func deploy(ctx context.Context, o *options, dir string, log *slog.Logger) (*deployment.Deployment, error) {
	progress := func(format string, args ...any) { say("soak: "+format, args...) }
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	d, err := deployment.Start(sctx, deployment.Options{
		Dir:            dir,
		Persons:        o.persons,
		MaxConnections: 200,
		Origin:         "soak.custodes/agency",
		Approver:       "soak-approver",
		Coverage:       config.Coverage{UnitCap: 200, TenantCap: 1000},
		Authorities: []*authority.Statement{
			{ID: "W-DEMO-1", Kind: "judicial_warrant", Reference: "SOAK-1", Unit: "newark", Datasets: []string{"*"}, Subjects: []int64{101, 102, 103}},
			{ID: "L-DEMO-2", Kind: "administrative", Reference: "SOAK-2", Unit: "newark", Datasets: []string{"public.persons", "public.addresses", "public.case_files"}, MaxSubjects: 5},
			{ID: "W-DEMO-3", Kind: "judicial_warrant", Reference: "SOAK-3", Unit: "houston", Datasets: []string{"*"}, Subjects: []int64{2001}},
		},
		Say:    progress,
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	custodes := o.custodes
	if custodes == "" {
		if custodes, err = deployment.Build(sctx, dir, "go run ./scripts/soak", progress); err != nil {
			return d, err
		}
	}
	return d, d.StartGateway(ctx, custodes, deployment.GatewayOptions{})
}

// verify runs `custodes verify` on the log, bounded to 10 minutes.
func verify(ctx context.Context, d *deployment.Deployment) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, d.Bin, "verify", "--log", d.LogDir(), "--key", filepath.Join(d.Dir, "log.pub"), "-q").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// operator runs `custodes suspend` or `custodes resume` for unit, bounded.
func operator(ctx context.Context, d *deployment.Deployment, verb, unit, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := []string{verb, "--config", d.ConfigPath, "--tenant", "agency", "--unit", unit}
	if reason != "" {
		args = append(args, "--reason", reason)
	}
	out, err := exec.CommandContext(ctx, d.Bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("custodes %s: %v: %s", verb, err, strings.TrimSpace(string(out)))
	}
	return nil
}
