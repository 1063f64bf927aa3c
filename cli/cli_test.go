package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/custodes/custodes/cli"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"custodes": func() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scripts under testdata/script. Each
// script starts with a small real log in $WORK/log (12 entries), its
// verifier key in $WORK/log.pub, and a command to damage files.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			return makeLog(filepath.Join(e.WorkDir, "log"), filepath.Join(e.WorkDir, "log.pub"), 12)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// flipbyte FILE OFFSET flips the low bit of one byte.
			"flipbyte": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: flipbyte FILE OFFSET")
				}
				path := ts.MkAbs(args[0])
				b, err := os.ReadFile(path)
				ts.Check(err)
				off, err := strconv.Atoi(args[1])
				ts.Check(err)
				if off < 0 {
					off += len(b)
				}
				b[off] ^= 1
				ts.Check(os.WriteFile(path, b, 0o644))
			},
		},
	})
}

func makeLog(dir, pubPath string, n int) error {
	ctx := context.Background()
	skey, vkey, err := translog.GenerateKey("script.custodes/agency")
	if err != nil {
		return err
	}
	l, err := translog.Open(ctx, translog.Options{Dir: dir, SignerKey: skey})
	if err != nil {
		return err
	}
	for i := range n {
		e := &record.Entry{
			Kind: record.KindStatement, Time: time.Date(2026, 12, 1, 12, 0, i, 0, time.UTC),
			Tenant: "agency", Unit: "newark", Analyst: "a1b2c3d4e5f60708", Class: "read",
			Datasets: []string{"public.persons"}, Decision: "allow", Rows: 1, Subjects: 1,
		}
		if i%3 == 0 {
			e.Decision, e.Rules, e.Rows, e.Subjects = "deny", []string{"AUP-1"}, 0, 0
		}
		b, err := e.Marshal()
		if err != nil {
			return err
		}
		if _, err := l.Append(ctx, b); err != nil {
			return err
		}
	}
	if err := l.Close(); err != nil {
		return err
	}
	return os.WriteFile(pubPath, []byte(vkey+"\n"), 0o644)
}

func TestMakeLog(t *testing.T) {
	dir := t.TempDir()
	if err := makeLog(filepath.Join(dir, "log"), filepath.Join(dir, "log.pub"), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "log", "checkpoint")); err != nil {
		t.Fatal(fmt.Errorf("no checkpoint after Close: %w", err))
	}
}
