package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/custodes/custodes/authority"
	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/console"
)

func runAuthority(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: custodes authority issue|revoke|list --config FILE …  (custodes authority issue --help)")
		return errUsage
	}
	switch args[0] {
	case "issue":
		return authorityIssue(ctx, e, args[1:])
	case "revoke":
		return authorityRevoke(ctx, e, args[1:])
	case "list":
		return authorityList(ctx, e, args[1:])
	}
	fmt.Fprintf(e.stderr, "custodes authority: unknown subcommand %q (issue, revoke, list)\n", args[0])
	return errUsage
}

func authorityIssue(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "authority issue", "--config FILE --approver-key FILE --id ID --kind KIND --reference REF --unit U --datasets D[,D…]|* (--subjects N[,N…] | --max-subjects N) --not-after T [--not-before T]")
	cfgPath := fs.String("config", "", "custodes.yaml of the running deployment")
	keyPath := fs.String("approver-key", "", "the approver's note signer key file (custodes keygen --origin NAME)")
	id := fs.String("id", "", "the authority's id, e.g. W-2026-0042")
	kind := fs.String("kind", "", "judicial_warrant, court_order, subpoena or administrative")
	ref := fs.String("reference", "", "the external reference, e.g. a docket number")
	unit := fs.String("unit", "", "the unit it is issued to")
	datasets := fs.String("datasets", "", "schema.table names it covers, comma-separated, or * for every registered dataset")
	subjects := fs.String("subjects", "", "the subject ids it names, comma-separated")
	maxSubjects := fs.Int64("max-subjects", 0, "instead of naming subjects: the most distinct subjects one statement may return")
	notBefore := fs.String("not-before", "", "start of validity, RFC 3339 (default: now)")
	notAfter := fs.String("not-after", "", "end of validity, RFC 3339 (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || *keyPath == "" || *notAfter == "" {
		fmt.Fprintln(e.stderr, "custodes authority issue: --config, --approver-key and --not-after are required")
		return errUsage
	}
	cfg, signer, err := loadApprover(*cfgPath, *keyPath)
	if err != nil {
		return err
	}
	st := &authority.Statement{ID: *id, Kind: *kind, Reference: *ref, Tenant: cfg.Tenant.Name, Unit: *unit, MaxSubjects: *maxSubjects}
	if *datasets != "" {
		st.Datasets = strings.Split(*datasets, ",")
	}
	if *subjects != "" {
		for _, s := range strings.Split(*subjects, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return fmt.Errorf("--subjects: %q is not a subject id", s)
			}
			st.Subjects = append(st.Subjects, n)
		}
	}
	st.NotBefore = time.Now().UTC().Truncate(time.Second)
	if *notBefore != "" {
		if st.NotBefore, err = time.Parse(time.RFC3339, *notBefore); err != nil {
			return fmt.Errorf("--not-before: %w", err)
		}
	}
	if st.NotAfter, err = time.Parse(time.RFC3339, *notAfter); err != nil {
		return fmt.Errorf("--not-after: %w", err)
	}
	signed, err := authority.Sign(st, signer)
	if err != nil {
		return err
	}
	var out console.IssueResponse
	if err := opsRequest(ctx, cfg, "POST", "/ops/api/authorities", signed, &out); err != nil {
		return err
	}
	if !out.Created {
		fmt.Fprintf(e.stdout, "authority %s exists already, unchanged\n", st.ID)
		return nil
	}
	fmt.Fprintf(e.stdout, "authority %s issued to unit %s, recorded as entry %d of log %s\n", st.ID, st.Unit, out.Entry, cfg.Log.Origin)
	return nil
}

func authorityRevoke(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "authority revoke", "--config FILE --approver-key FILE --id ID --reason \"…\"")
	cfgPath := fs.String("config", "", "custodes.yaml of the running deployment")
	keyPath := fs.String("approver-key", "", "the approver's note signer key file")
	id := fs.String("id", "", "the authority to revoke")
	reason := fs.String("reason", "", "why, for the public record")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || *keyPath == "" || *id == "" || *reason == "" {
		fmt.Fprintln(e.stderr, "custodes authority revoke: --config, --approver-key, --id and --reason are required")
		return errUsage
	}
	cfg, signer, err := loadApprover(*cfgPath, *keyPath)
	if err != nil {
		return err
	}
	signed, err := authority.SignRevocation(&authority.Revocation{ID: *id, Reason: *reason}, signer)
	if err != nil {
		return err
	}
	var out console.ActionResponse
	if err := opsRequest(ctx, cfg, "POST", "/ops/api/revocations", signed, &out); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "authority %s revoked, recorded as entry %d of log %s\n", *id, out.Entry, cfg.Log.Origin)
	return nil
}

func authorityList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "authority list", "--config FILE")
	cfgPath := fs.String("config", "", "custodes.yaml of the running deployment")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintln(e.stderr, "custodes authority list: --config is required")
		return errUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	var list []console.AuthoritySummary
	if err := opsRequest(ctx, cfg, "GET", "/ops/api/authorities", nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tUNIT\tSCOPE\tDATASETS\tVALID UNTIL\tSTATUS\tAPPROVER")
	for _, a := range list {
		scope := fmt.Sprintf("%d subjects", a.Subjects)
		if a.MaxSubjects > 0 {
			scope = fmt.Sprintf("≤ %d subjects", a.MaxSubjects)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Kind, a.Unit, scope, strings.Join(a.Datasets, ","),
			a.NotAfter.Format(time.DateOnly), a.Status, a.Approver)
	}
	return tw.Flush()
}

func loadApprover(cfgPath, keyPath string) (*config.Config, note.Signer, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't read the approver key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(key)))
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not a note signer key: %w", keyPath, err)
	}
	return cfg, signer, nil
}

// opsRequest calls the running console's operator API with the config's
// token and decodes the JSON answer into out.
func opsRequest(ctx context.Context, cfg *config.Config, method, path string, body []byte, out any) error {
	token, err := os.ReadFile(cfg.Path(cfg.OperatorTokenFile))
	if err != nil {
		return fmt.Errorf("couldn't read the operator token: %w", err)
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+cfg.HTTP+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("couldn't reach the console at %s (is custodes serve running?): %w", cfg.HTTP, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusTooManyRequests {
		// The console's login limit: too many wrong tokens from here.
		return fmt.Errorf("the console refuses this address after too many wrong operator tokens; try again in %s seconds", resp.Header.Get("Retry-After"))
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", strings.TrimPrefix(strings.TrimSpace(string(b)), "custodes: "))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("couldn't read the console's answer: %w", err)
	}
	return nil
}
