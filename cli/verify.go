package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "verify", "--log DIR|URL --key VKEY [--entries]")
	logLoc := fs.String("log", "", "the log: a directory, or the console's http(s)://HOST/log/ URL")
	key := fs.String("key", "", "the log's verifier key, or a file holding it")
	fs.Bool("entries", true, "parse every entry as a custodes entry (always on)")
	quiet := fs.Bool("q", false, "no progress")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger(e, false) // Tessera's client logs at warning level only
	*quiet = *quiet || !isTerminal(e.stderr)
	if *logLoc == "" || *key == "" {
		fmt.Fprintln(e.stderr, "custodes verify: --log and --key are required")
		return errUsage
	}
	vkey, err := readKey(*key)
	if err != nil {
		return err
	}
	src, err := translog.OpenSource(*logLoc)
	if err != nil {
		return err
	}
	kinds := map[record.Kind]uint64{}
	last := time.Now()
	res, err := translog.Verify(ctx, src, vkey, translog.VerifyOptions{
		Entry: func(i uint64, data []byte) error {
			en, err := record.Parse(data)
			if err != nil {
				return fmt.Errorf("entry %d is not a valid custodes entry: %w", i, err)
			}
			kinds[en.Kind]++
			return nil
		},
		Progress: func(done, total uint64) {
			if !*quiet && time.Since(last) > 500*time.Millisecond {
				last = time.Now()
				fmt.Fprintf(e.stderr, "\rverifying: %d/%d entries", done, total)
			}
		},
	})
	if !*quiet {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	if err != nil {
		var ve *translog.VerifyError
		if errors.As(err, &ve) {
			fmt.Fprintf(e.stderr, "custodes: verification FAILED\n%v\n", ve)
			return errSilent
		}
		return fmt.Errorf("verification FAILED: %w", err)
	}
	var parts []string
	for _, k := range []record.Kind{record.KindStatement, record.KindLoginFailure, record.KindAuthorityIssued, record.KindAuthorityRevoked,
		record.KindPolicyPublished, record.KindSuspension, record.KindResumption, record.KindStorageAttestation, record.KindAlert} {
		if kinds[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
		}
	}
	fmt.Fprintf(e.stdout, "verified %d entries, root %s (%s)\n", res.Size, hex.EncodeToString(res.Root[:]), strings.Join(parts, ", "))
	return nil
}

// readKey takes a vkey string, or the path of a file holding one. A path
// that exists wins; otherwise the argument is the key itself.
func readKey(k string) (string, error) {
	if st, err := os.Stat(k); err == nil && st.Mode().IsRegular() {
		b, err := os.ReadFile(k)
		if err != nil {
			return "", fmt.Errorf("couldn't read the key file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if strings.Count(k, "+") < 2 {
		return "", fmt.Errorf("--key %q is neither a file nor a verifier key (origin+hash+key)", k)
	}
	return k, nil
}
