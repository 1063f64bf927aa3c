// Package cli is the custodes command line. Each command lives in a file of
// its own; Main dispatches. Errors are printed as "custodes: …" on standard
// error; the exit code is 0 on success, 1 on failure (including a failed
// verification), 2 on bad usage.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/go-logr/logr"
	"golang.org/x/term"
	"k8s.io/klog/v2"
)

type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

var commands = map[string]command{
	"demo":      {"the whole system on this machine, with synthetic data", runDemo},
	"setup":     {"prepare an existing PostgreSQL for custodes (idempotent)", runSetup},
	"serve":     {"run the gateway and console in production", runServe},
	"verify":    {"verify a transparency log: signatures, hashes, every entry", runVerify},
	"keygen":    {"make a log signing key, or a SCRAM verifier for a password", runKeygen},
	"policy":    {"show the acceptable-use policy, or test it against a table of cases", runPolicy},
	"unseal":    {"overseer: decrypt the sealed detail of a log entry and check it against the entry", runUnseal},
	"suspend":   {"operator: switch off a tenant or one unit, with a reason, on the record", runSuspend},
	"resume":    {"operator: lift a suspension, on the record", runResume},
	"authority": {"approver: issue, revoke or list authorities (signed with the approver key)", runAuthority},
	"report":    {"the transparency report, computed from the public log alone", runReport},
	"prove":     {"write the evidence bundle of one log entry, to check offline with verify --bundle", runProve},
	"witness":   {"run a C2SP tlog-witness that cosigns checkpoints it has proved consistent", runWitness},
}

// env is what a command may touch.
type env struct {
	stdout, stderr io.Writer
}

// errUsage marks bad usage: exit code 2, after the message.
var errUsage = errors.New("usage")

// errSilent is a failure whose explanation has been printed already.
var errSilent = errors.New("failed")

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "custodes: unknown command %q (see custodes help)\n", args[0])
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, &env{stdout: stdout, stderr: stderr}, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errSilent):
		return 1
	}
	fmt.Fprintf(stderr, "custodes: %v\n", err)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "custodes: a gateway that keeps person-level data targeted, and a public log of every decision")
	fmt.Fprintln(w, "\nusage: custodes COMMAND [flags]   (custodes COMMAND --help documents every flag)")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
}

// flags makes a FlagSet whose errors and help go to stderr in one style.
func flags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: custodes %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, turning flag errors into errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "custodes %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}

// logger is the operator's structured log on stderr. Tessera logs through
// the process-wide klog; it is routed into the same handler, so its lines
// obey the same level and format.
func logger(e *env, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if !verbose {
		level = slog.LevelWarn
	}
	h := slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})
	klog.SetLogger(logr.FromSlogHandler(h.WithAttrs([]slog.Attr{slog.String("component", "tessera")})))
	return slog.New(h)
}

// isTerminal says whether w is a terminal, where progress may redraw.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
