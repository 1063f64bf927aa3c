package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/overseer"
)

func runUnseal(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "unseal", "--entry N --identity FILE [--config FILE] [--key VKEY]")
	entry := fs.Int64("entry", -1, "index of the log entry whose sealed detail to open")
	identity := fs.String("identity", "", "the overseer's age identity file")
	cfgPath := fs.String("config", "custodes.yaml", "the deployment's config: where its log and control database are")
	key := fs.String("key", "", "the log's verifier key or a file holding it (default: log.pub beside the config)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *entry < 0 || *identity == "" {
		fmt.Fprintln(e.stderr, "custodes unseal: --entry and --identity are required")
		return errUsage
	}
	idText, err := os.ReadFile(*identity)
	if err != nil {
		return fmt.Errorf("couldn't read the identity: %w", err)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *key == "" {
		*key = filepath.Join(filepath.Dir(*cfgPath), "log.pub")
	}
	vkey, err := readKey(*key)
	if err != nil {
		return err
	}
	logger(e, false)
	found, plain, err := overseer.Unseal(ctx, cfg, vkey, uint64(*entry), idText)
	if errors.Is(err, overseer.ErrMismatch) {
		fmt.Fprintf(e.stderr, "custodes: the stored detail does NOT match entry %d's commitment %s\n", *entry, hex.EncodeToString(found.Detail[:]))
		return errSilent
	}
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, plain, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(plain)
	}
	fmt.Fprintf(e.stdout, "entry %d: %s %s %v by analyst %s\n%s\n", *entry, found.Kind, found.Decision, found.Rules, found.Analyst, pretty.String())
	fmt.Fprintf(e.stdout, "the detail matches the entry's commitment %s\n", hex.EncodeToString(found.Detail[:]))
	return nil
}
