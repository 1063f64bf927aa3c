package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/custodes/custodes/scram"
	"github.com/custodes/custodes/seal"
	"github.com/custodes/custodes/translog"
)

func runKeygen(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keygen", "--origin ORIGIN --out PREFIX | --password | --overseer FILE")
	origin := fs.String("origin", "", "log origin the key signs for, e.g. example.gov/agency")
	out := fs.String("out", "", "write PREFIX.key (private, mode 0600) and PREFIX.pub (verifier key)")
	password := fs.Bool("password", false, "read a password on standard input and print its SCRAM-SHA-256 verifier for custodes.yaml")
	overseerOut := fs.String("overseer", "", "write an overseer's age identity to FILE (mode 0600) and print its recipient for custodes.yaml's overseers")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *password {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("couldn't read a password from standard input: %w", err)
		}
		v, err := scram.Hash(strings.TrimRight(line, "\r\n"))
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, v)
		return nil
	}
	if *overseerOut != "" {
		if _, err := os.Stat(*overseerOut); err == nil {
			return fmt.Errorf("%s exists; not overwriting an identity", *overseerOut)
		}
		id, recipient, err := seal.NewIdentity()
		if err != nil {
			return err
		}
		if err := os.WriteFile(*overseerOut, []byte(id+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, recipient)
		return nil
	}
	if *origin == "" || *out == "" {
		fmt.Fprintln(e.stderr, "custodes keygen: --origin and --out are required (or --password)")
		return errUsage
	}
	skey, vkey, err := translog.GenerateKey(*origin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(*out + ".key"); err == nil {
		return fmt.Errorf("%s.key exists; not overwriting a signing key", *out)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out+".key", []byte(skey+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(*out+".pub", []byte(vkey+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, vkey)
	return nil
}
