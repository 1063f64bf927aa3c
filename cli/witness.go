package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/custodes/custodes/witness"
)

func runWitness(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "witness", "--listen ADDR --key FILE --log-key VKEY [--log-key VKEY ...] --state DIR")
	listen := fs.String("listen", "127.0.0.1:7380", "serve C2SP tlog-witness (POST /add-checkpoint) on this `ADDR`ess")
	keyFile := fs.String("key", "", "`FILE` holding the witness's signer key (custodes keygen --origin WITNESS-NAME --out PREFIX writes PREFIX.key)")
	var logKeys keyList
	fs.Var(&logKeys, "log-key", "witness the log whose verifier key is `VKEY` (or in a file); repeatable")
	state := fs.String("state", "", "`DIR`ectory keeping the latest cosigned checkpoint of each log")
	verbose := fs.Bool("v", false, "log every cosignature, not only refusals")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *keyFile == "" || len(logKeys) == 0 || *state == "" {
		fmt.Fprintln(e.stderr, "custodes witness: --key, --log-key and --state are required")
		return errUsage
	}
	lg := logger(e, *verbose)
	skey, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("couldn't read the witness key: %w", err)
	}
	vkeys, err := logKeys.read()
	if err != nil {
		return err
	}
	store, err := witness.OpenDirStore(*state)
	if err != nil {
		return err
	}
	defer store.Close()
	w, err := witness.New(witness.Config{SignerKey: strings.TrimSpace(string(skey)), LogKeys: vkeys, Store: store, Logger: lg})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("couldn't listen: %w", err)
	}
	srv := &http.Server{
		Handler:           w,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(lg.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(e.stdout, "witness %s listening on http://%s/ (POST /add-checkpoint)\n", w.Name(), ln.Addr())
	fmt.Fprintf(e.stdout, "cosignature key: %s\n", w.VerifierKey())
	for _, k := range vkeys {
		origin, _, _ := strings.Cut(k, "+")
		fmt.Fprintf(e.stdout, "witnessing log: %s\n", origin)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("witness server stopped: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("couldn't stop the witness server: %w", err)
	}
	return nil
}
