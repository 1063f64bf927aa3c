package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/demo"
	"github.com/custodes/custodes/service"
	"github.com/custodes/custodes/setup"
)

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "demo", "[--data-dir DIR] [--persons N] [--listen ADDR] [--http ADDR] [--scenario]")
	dir := fs.String("data-dir", "custodes-demo", "directory for the demo's database, log, keys and config (reused when run again)")
	persons := fs.Int("persons", 100000, "number of synthetic persons to load the first time")
	listen := fs.String("listen", "127.0.0.1:6432", "gateway address analysts connect to")
	httpAddr := fs.String("http", "127.0.0.1:8080", "console address")
	scenario := fs.Bool("scenario", false, "run the scripted tour against the demo, verify the log, and exit 0 only if every outcome was as expected")
	verbose := fs.Bool("v", false, "log what every component does")
	if err := parse(fs, args); err != nil {
		return err
	}
	startProfiling(logger(e, *verbose))
	err := demo.Run(ctx, demo.Options{
		Dir: *dir, Persons: *persons, Listen: *listen, HTTP: *httpAddr, Scenario: *scenario,
		Stdout: e.stdout, Stderr: e.stderr, Terminal: isTerminal(e.stderr), Logger: logger(e, *verbose),
	})
	if errors.Is(err, demo.ErrScenarioFailed) {
		return errSilent
	}
	return err
}

func runSetup(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "setup", "--config FILE")
	path := fs.String("config", "", "custodes.yaml; backend.admin_url must name a superuser connection")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(e.stderr, "custodes setup: --config is required")
		return errUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if err := setup.Run(ctx, cfg, logger(e, true)); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "custodes: setup complete")
	return nil
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "serve", "--config FILE")
	path := fs.String("config", "", "custodes.yaml")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(e.stderr, "custodes serve: --config is required")
		return errUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := logger(e, true)
	startProfiling(log)
	svc, err := service.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	return svc.Serve(ctx, func() { fmt.Fprintln(e.stdout, "custodes: ready") })
}
