package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

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
	token, err := os.ReadFile(cfg.Path(cfg.OperatorTokenFile))
	if err != nil {
		return fmt.Errorf("couldn't read the operator token: %w", err)
	}
	body, _ := json.Marshal(console.ActionRequest{Tenant: *tenant, Unit: *unit, Reason: *reason})
	url := "http://" + cfg.HTTP + "/ops/api/" + verb
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("couldn't reach the console at %s (is custodes serve running?): %w", cfg.HTTP, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", strings.TrimPrefix(strings.TrimSpace(string(b)), "custodes: "))
	}
	var out console.ActionResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("couldn't read the console's answer: %w", err)
	}
	what := "tenant " + *tenant
	if *unit != "" {
		what = "unit " + *unit + " of tenant " + *tenant
	}
	fmt.Fprintf(e.stdout, "%s: %s, recorded as entry %d of log %s\n", what, map[string]string{"suspend": "suspended", "resume": "resumed"}[verb], out.Entry, cfg.Log.Origin)
	return nil
}
