package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custodes/custodes/report"
	"github.com/custodes/custodes/translog"
)

func runReport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "report", "--log DIR|URL --key VKEY [--from T] [--to T] [--format text|json|html]")
	logLoc := fs.String("log", "", "the log: a directory, or the console's http(s)://HOST/log/ URL")
	key := fs.String("key", "", "the log's verifier key, or a file holding it")
	from := fs.String("from", "", "start of the period, inclusive: RFC 3339 time or YYYY-MM-DD (UTC midnight); default the first entry")
	to := fs.String("to", "", "end of the period, exclusive: RFC 3339 time or YYYY-MM-DD (UTC midnight); default the checkpoint")
	format := fs.String("format", "text", "text, json (the published form) or html (one self-contained page)")
	quiet := fs.Bool("q", false, "no progress")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger(e, false)
	*quiet = *quiet || !isTerminal(e.stderr)
	if *logLoc == "" || *key == "" {
		fmt.Fprintln(e.stderr, "custodes report: --log and --key are required")
		return errUsage
	}
	if *format != "text" && *format != "json" && *format != "html" {
		fmt.Fprintf(e.stderr, "custodes report: --format %q: want text, json or html\n", *format)
		return errUsage
	}
	var opts report.Options
	var err error
	if opts.From, err = parseTime(*from); err != nil {
		fmt.Fprintf(e.stderr, "custodes report: --from: %v\n", err)
		return errUsage
	}
	if opts.To, err = parseTime(*to); err != nil {
		fmt.Fprintf(e.stderr, "custodes report: --to: %v\n", err)
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
	last := time.Now()
	opts.Progress = func(done, total uint64) {
		if !*quiet && time.Since(last) > 500*time.Millisecond {
			last = time.Now()
			fmt.Fprintf(e.stderr, "\rverifying and counting: %d/%d entries", done, total)
		}
	}
	r, err := report.Compute(ctx, src, vkey, opts)
	if !*quiet {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	if err != nil {
		var ve *translog.VerifyError
		if errors.As(err, &ve) {
			fmt.Fprintf(e.stderr, "custodes: verification FAILED, no report\n%v\n", ve)
			return errSilent
		}
		return err
	}

	w := bufio.NewWriter(e.stdout)
	switch *format {
	case "json":
		var b []byte
		if b, err = r.JSON(); err == nil {
			_, err = w.Write(b)
		}
	case "html":
		err = r.HTML(w)
	default:
		err = r.Text(w)
	}
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("couldn't write the report: %w", err)
	}
	return nil
}

// parseTime accepts an RFC 3339 time or a date, read as UTC midnight.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor YYYY-MM-DD", strings.TrimSpace(s))
	}
	return t.UTC(), nil
}
