package cli_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/custodes/custodes/cli"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
	"github.com/custodes/custodes/witness"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"custodes": func() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scripts under testdata/script. Each
// script starts with a small real log in $WORK/log (12 entries), its
// verifier key in $WORK/log.pub and signer key in $WORK/log.key, and
// commands to damage files, grow or fork logs, and have a witness cosign.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			return makeLog(filepath.Join(e.WorkDir, "log"), filepath.Join(e.WorkDir, "log.pub"), 12)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// growlog DIR KEYFILE N [UNIT|-raw] appends N entries to the log
			// in DIR (creating it) under the signer key in KEYFILE.
			"growlog": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 3 || len(args) > 4 {
					ts.Fatalf("usage: growlog DIR KEYFILE N [UNIT|-raw]")
				}
				n, err := strconv.Atoi(args[2])
				ts.Check(err)
				unit := "newark"
				if len(args) == 4 {
					unit = args[3]
				}
				ts.Check(appendEntries(ts.MkAbs(args[0]), strings.TrimSpace(ts.ReadFile(args[1])), n, unit))
			},
			// [!] cosign LOGDIR LOGPUB WITNESSKEY STATEDIR: a witness cosigns
			// the log's checkpoint (or, with !, must refuse it).
			"cosign": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 4 {
					ts.Fatalf("usage: cosign LOGDIR LOGPUB WITNESSKEY STATEDIR")
				}
				err := cosign(ts.MkAbs(args[0]), ts.MkAbs(args[1]), ts.MkAbs(args[2]), ts.MkAbs(args[3]))
				switch {
				case neg && err == nil:
					ts.Fatalf("the witness cosigned")
				case neg:
					ts.Logf("the witness refused: %v", err)
				default:
					ts.Check(err)
				}
			},
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
	skey, vkey, err := translog.GenerateKey("script.custodes/agency")
	if err != nil {
		return err
	}
	if err := appendEntries(dir, skey, n, "newark"); err != nil {
		return err
	}
	// The signer key beside the verifier key, for growlog.
	if err := os.WriteFile(strings.TrimSuffix(pubPath, ".pub")+".key", []byte(skey+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(pubPath, []byte(vkey+"\n"), 0o644)
}

// appendEntries appends n statement entries of unit to the log in dir
// (creating it), or n entries that are no custodes entry if unit is "-raw".
func appendEntries(dir, skey string, n int, unit string) error {
	ctx := context.Background()
	l, err := translog.Open(ctx, translog.Options{Dir: dir, SignerKey: skey, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	for i := range n {
		e := &record.Entry{
			Kind: record.KindStatement, Time: time.Date(2026, 12, 1, 12, 0, i, 0, time.UTC),
			Tenant: "agency", Unit: unit, Analyst: "a1b2c3d4e5f60708", Class: "read",
			Datasets: []string{"public.persons"}, Decision: "allow", Rows: 1, Subjects: 1,
		}
		if i%3 == 0 {
			e.Decision, e.Rules, e.Rows, e.Subjects = "deny", []string{"AUP-1"}, 0, 0
		}
		b, err := e.Marshal()
		if unit == "-raw" {
			b, err = fmt.Appendf(nil, "not a custodes entry %d\n", i), nil
		}
		if err != nil {
			return err
		}
		if _, err := l.Append(ctx, b); err != nil {
			return err
		}
	}
	return l.Close()
}

// cosign has a witness (state in stateDir, key in witnessKeyFile) cosign
// the checkpoint of the log in dir, proving consistency from what it
// cosigned before, and appends the cosignature to the log's checkpoint, as
// a log that publishes witnessed checkpoints does.
func cosign(dir, logPubFile, witnessKeyFile, stateDir string) error {
	skey, err := os.ReadFile(witnessKeyFile)
	if err != nil {
		return err
	}
	vkey, err := os.ReadFile(logPubFile)
	if err != nil {
		return err
	}
	store, err := witness.OpenDirStore(stateDir)
	if err != nil {
		return err
	}
	defer store.Close()
	w, err := witness.New(witness.Config{SignerKey: strings.TrimSpace(string(skey)), LogKeys: []string{strings.TrimSpace(string(vkey))}, Store: store})
	if err != nil {
		return err
	}
	cpPath := filepath.Join(dir, "checkpoint")
	cp, err := os.ReadFile(cpPath)
	if err != nil {
		return err
	}
	sigs, err := w.Add(0, nil, cp)
	var conflict *witness.ConflictError
	if errors.As(err, &conflict) && !conflict.Fork {
		size, _ := strconv.ParseUint(strings.Split(string(cp), "\n")[1], 10, 64)
		src, serr := translog.OpenSource(dir)
		if serr != nil {
			return serr
		}
		proof, perr := translog.ConsistencyProof(context.Background(), src, conflict.Size, size)
		if perr != nil {
			return perr
		}
		sigs, err = w.Add(conflict.Size, proof, cp)
	}
	if err != nil {
		return err
	}
	return os.WriteFile(cpPath, append(cp, sigs...), 0o644)
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
