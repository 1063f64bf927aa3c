package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/custodes/custodes/translog"
)

func runProve(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "prove", "--log DIR|URL --index N [--key VKEY] > BUNDLE")
	logLoc := fs.String("log", "", "the log: a directory, or the console's http(s)://HOST/log/ URL")
	index := fs.String("index", "", "the index `N` of the entry to prove (0 is the first)")
	key := fs.String("key", "", "also check the checkpoint's signature with this verifier key (or a file holding it) before writing")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger(e, false)
	if *logLoc == "" || *index == "" {
		fmt.Fprintln(e.stderr, "custodes prove: --log and --index are required")
		return errUsage
	}
	i, err := strconv.ParseUint(*index, 10, 64)
	if err != nil {
		fmt.Fprintf(e.stderr, "custodes prove: --index %q is not an entry index\n", *index)
		return errUsage
	}
	src, err := translog.OpenSource(*logLoc)
	if err != nil {
		return err
	}
	b, err := translog.Prove(ctx, src, i)
	if err != nil {
		return err
	}
	if *key != "" {
		vkey, err := readKey(*key)
		if err != nil {
			return err
		}
		if _, err := b.Verify(vkey); err != nil {
			var ve *translog.VerifyError
			if errors.As(err, &ve) {
				fmt.Fprintf(e.stderr, "custodes: the log's own evidence does not verify\n%v\n", ve)
				return errSilent
			}
			return err
		}
	}
	out, err := b.Marshal()
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(out)
	return err
}
