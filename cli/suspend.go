package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/console"
)

func runSuspend(ctx context.Context, e *env, args []string) error {
	return operatorAction(ctx, e, "suspend", args)
}
func runResume(ctx context.Context, e *env, args []string) error {
	return operatorAction(ctx, e, "resume", args)
}

// operatorAction asks the running gateway's console to suspend or resume:
// the gateway is the log's only writer, so the action is recorded there.
func operatorAction(ctx context.Context, e *env, verb string, args []string) error {
	fs := flags(e, verb, "--config FILE --tenant T [--unit U] --reason \"…\"")
	cfgPath := fs.String("config", "", "custodes.yaml of the running deployment (its console address and operator token)")
	tenant := fs.String("tenant", "", "the tenant")
	unit := fs.String("unit", "", "one unit of the tenant (default: the whole tenant)")
	reason := fs.String("reason", "", "why, for the public record (required to suspend)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || *tenant == "" || (verb == "suspend" && strings.TrimSpace(*reason) == "") {
		fmt.Fprintf(e.stderr, "custodes %s: --config, --tenant and --reason are required\n", verb)
		if verb == "resume" {
			fmt.Fprintln(e.stderr, "(--reason is optional for resume)")
		}
		return errUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(console.ActionRequest{Tenant: *tenant, Unit: *unit, Reason: *reason})
	var out console.ActionResponse
	if err := opsRequest(ctx, cfg, "POST", "/ops/api/"+verb, body, &out); err != nil {
		return err
	}
	what := "tenant " + *tenant
	if *unit != "" {
		what = "unit " + *unit + " of tenant " + *tenant
	}
	fmt.Fprintf(e.stdout, "%s: %s, recorded as entry %d of log %s\n", what, map[string]string{"suspend": "suspended", "resume": "resumed"}[verb], out.Entry, cfg.Log.Origin)
	return nil
}
