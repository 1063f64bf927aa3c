package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/policy"
)

func runPolicy(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "show" && args[0] != "test") {
		fmt.Fprintln(e.stderr, "usage: custodes policy show [--config FILE | --policy FILE]\n       custodes policy test [--config FILE | --policy FILE] TABLE.yaml")
		return errUsage
	}
	sub := args[0]
	fs := flags(e, "policy "+sub, "[--config FILE | --policy FILE]"+map[string]string{"show": "", "test": " TABLE.yaml"}[sub])
	cfgPath := fs.String("config", "", "custodes.yaml: use the policy it names (or the built-in one)")
	polPath := fs.String("policy", "", "a Cedar policy file (default: the built-in policy)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	p, source, err := loadPolicy(*cfgPath, *polPath)
	if err != nil {
		return err
	}
	switch sub {
	case "show":
		if fs.NArg() != 0 {
			return errUsage
		}
		fmt.Fprintf(e.stdout, "// policy: %s\n// sha256: %s\n// rules:", source, p.Hash())
		for _, r := range p.Rules() {
			fmt.Fprintf(e.stdout, " %s", r.ID)
		}
		fmt.Fprintf(e.stdout, "\n\n%s", p.Text())
		return nil
	default:
		if fs.NArg() != 1 {
			fmt.Fprintln(e.stderr, "custodes policy test: name one table of cases (YAML)")
			return errUsage
		}
		table, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("couldn't read the test table: %w", err)
		}
		report, failed, err := policy.RunTests(p, table)
		if err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		fmt.Fprint(e.stdout, report)
		if failed > 0 {
			fmt.Fprintf(e.stderr, "custodes: %d case(s) failed against %s\n", failed, source)
			return errSilent
		}
		return nil
	}
}

func loadPolicy(cfgPath, polPath string) (*policy.Policy, string, error) {
	if cfgPath != "" && polPath != "" {
		return nil, "", fmt.Errorf("give --config or --policy, not both")
	}
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return nil, "", err
		}
		polPath = cfg.Path(cfg.PolicyFile)
	}
	if polPath == "" {
		return policy.Default(), "built-in default", nil
	}
	text, err := os.ReadFile(polPath)
	if err != nil {
		return nil, "", fmt.Errorf("couldn't read the policy: %w", err)
	}
	p, err := policy.Load(text)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", polPath, err)
	}
	return p, polPath, nil
}
