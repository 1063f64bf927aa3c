package cli

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
	"github.com/custodes/custodes/witness"
)

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "verify", "--log DIR|URL --key VKEY [--state FILE] [--witness-key VKEY ... [--min-cosignatures N]]\n"+
		"       custodes verify --bundle FILE --key VKEY [--witness-key VKEY ... [--min-cosignatures N]]")
	logLoc := fs.String("log", "", "the log: a directory, or the console's http(s)://HOST/log/ URL")
	key := fs.String("key", "", "the log's verifier key, or a file holding it")
	state := fs.String("state", "", "keep the last verified checkpoint (the signed note, verbatim) in `FILE`, and prove the log consistent with it on the next run")
	bundle := fs.String("bundle", "", "verify the evidence bundle in `FILE` (from custodes prove) offline, instead of a log")
	var witnessKeys keyList
	fs.Var(&witnessKeys, "witness-key", "require a cosignature from the witness whose verifier key is `VKEY` (or in a file); repeatable")
	var minCosigs optionalInt
	fs.Var(&minCosigs, "min-cosignatures", "how many (`N`) of the --witness-key witnesses must have cosigned the checkpoint (default: all of them)")
	fs.Bool("entries", true, "parse every entry as a custodes entry (always on)")
	quiet := fs.Bool("q", false, "no progress")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger(e, false) // Tessera's client logs at warning level only
	*quiet = *quiet || !isTerminal(e.stderr)
	if *key == "" || (*logLoc == "") == (*bundle == "") {
		fmt.Fprintln(e.stderr, "custodes verify: --log and --key are required (or --bundle and --key)")
		return errUsage
	}
	if *bundle != "" && *state != "" {
		fmt.Fprintln(e.stderr, "custodes verify: --state goes with --log, not --bundle")
		return errUsage
	}
	if !minCosigs.set {
		minCosigs.n = len(witnessKeys)
	}
	if minCosigs.n > len(witnessKeys) {
		fmt.Fprintf(e.stderr, "custodes verify: --min-cosignatures %d needs at least that many --witness-key\n", minCosigs.n)
		return errUsage
	}
	vkey, err := readKey(*key)
	if err != nil {
		return err
	}
	wkeys, err := witnessKeys.read()
	if err != nil {
		return err
	}
	policy := cosignPolicy{keys: wkeys, min: minCosigs.n}
	if *bundle != "" {
		return verifyBundle(e, *bundle, vkey, policy)
	}
	return verifyLog(ctx, e, *logLoc, vkey, *state, policy, *quiet)
}

func verifyLog(ctx context.Context, e *env, logLoc, vkey, state string, policy cosignPolicy, quiet bool) error {
	src, err := translog.OpenSource(logLoc)
	if err != nil {
		return err
	}
	var previous []byte
	if state != "" {
		if previous, err = readState(state); err != nil {
			return err
		}
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
			if !quiet && time.Since(last) > 500*time.Millisecond {
				last = time.Now()
				fmt.Fprintf(e.stderr, "\rverifying: %d/%d entries", done, total)
			}
		},
		Previous: previous,
	})
	if !quiet {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	if err != nil {
		var ve *translog.VerifyError
		if !errors.As(err, &ve) {
			return fmt.Errorf("verification FAILED: %w", err)
		}
		if ve.Previous == nil || ve.Checkpoint == nil {
			fmt.Fprintf(e.stderr, "custodes: verification FAILED\n%v\n", ve)
			return errSilent
		}
		// The log no longer extends what was verified before: give the
		// proof a third party can check without re-reading the log.
		cerr := translog.CheckConsistency(ctx, src, vkey, ve.Previous, ve.Checkpoint)
		var ie *translog.InconsistencyError
		if !errors.As(cerr, &ie) {
			fmt.Fprintf(e.stderr, "custodes: verification FAILED\n%v\n", ve)
			if cerr != nil {
				fmt.Fprintf(e.stderr, "(no consistency proof: %v)\n", cerr)
			}
			return errSilent
		}
		fmt.Fprintf(e.stderr, "custodes: verification FAILED\nlog verification failed: %s\n", ve.Reason)
		if ve.Want != nil {
			fmt.Fprintf(e.stderr, "  root of those entries, recomputed from them: %s\n", base64.StdEncoding.EncodeToString(ve.Want))
		}
		fmt.Fprintf(e.stderr, "evidence:\n%v\n", ie)
		return errSilent
	}
	var parts []string
	for _, k := range []record.Kind{record.KindStatement, record.KindLoginFailure, record.KindAuthorityIssued, record.KindAuthorityRevoked,
		record.KindPolicyPublished, record.KindSuspension, record.KindResumption, record.KindStorageAttestation, record.KindAlert} {
		if kinds[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
		}
	}
	fmt.Fprintf(e.stdout, "verified %d entries, root %s (%s)\n", res.Size, hex.EncodeToString(res.Root[:]), strings.Join(parts, ", "))
	if err := policy.check(e, res.Checkpoint); err != nil {
		return err
	}
	if state == "" {
		return nil
	}
	if err := writeFileAtomic(state, res.Checkpoint); err != nil {
		return fmt.Errorf("couldn't save the verified checkpoint to %s: %w", state, err)
	}
	if previous == nil {
		fmt.Fprintf(e.stdout, "state: none before; saved the checkpoint of %d entries to %s\n", res.Size, state)
	} else {
		fmt.Fprintf(e.stdout, "state: consistent with the checkpoint verified before; saved the checkpoint of %d entries to %s\n", res.Size, state)
	}
	return nil
}

func verifyBundle(e *env, path, vkey string, policy cosignPolicy) error {
	raw, err := readCapped(path, translog.MaxBundleSize)
	if err != nil {
		return fmt.Errorf("couldn't read the bundle: %w", err)
	}
	b, err := translog.ParseBundle(raw)
	if err != nil {
		return fmt.Errorf("verification FAILED: %w", err)
	}
	res, err := b.Verify(vkey)
	if err != nil {
		var ve *translog.VerifyError
		if errors.As(err, &ve) {
			fmt.Fprintf(e.stderr, "custodes: verification FAILED\n%v\n", ve)
			return errSilent
		}
		return fmt.Errorf("verification FAILED: %w", err)
	}
	if _, err := record.Parse(b.Entry); err != nil {
		return fmt.Errorf("verification FAILED: entry %d is not a valid custodes entry: %w", b.Index, err)
	}
	origin, _, _ := strings.Cut(string(b.Checkpoint), "\n")
	fmt.Fprintf(e.stdout, "verified entry %d of log %s: included in the tree of %d entries, root %s\n",
		b.Index, origin, res.Size, hex.EncodeToString(res.Root[:]))
	if err := policy.check(e, b.Checkpoint); err != nil {
		return err
	}
	// The entry is the public record itself: printable ASCII lines.
	fmt.Fprintf(e.stdout, "%s", b.Entry)
	return nil
}

// cosignPolicy is --witness-key and --min-cosignatures.
type cosignPolicy struct {
	keys []string
	min  int
}

// check requires p.min valid cosignatures from p.keys on checkpoint, which
// has been verified as the log's already, and says whose they are.
func (p cosignPolicy) check(e *env, checkpoint []byte) error {
	if len(p.keys) == 0 {
		return nil
	}
	names, err := witness.VerifyCosignatures(checkpoint, p.keys)
	if err != nil {
		return fmt.Errorf("verification FAILED: %w", err)
	}
	if len(names) < p.min {
		fmt.Fprintf(e.stderr, "custodes: verification FAILED\nthe checkpoint carries %d valid cosignatures from the %d witnesses named, fewer than the %d required\n  checkpoint:\n    %s\n",
			len(names), len(p.keys), p.min, strings.ReplaceAll(strings.TrimRight(string(checkpoint), "\n"), "\n", "\n    "))
		return errSilent
	}
	who := strings.Join(names, ", ")
	if who == "" {
		who = "no witness"
	}
	fmt.Fprintf(e.stdout, "cosigned by %s (%d required)\n", who, p.min)
	return nil
}

// optionalInt is a flag of a number ≥ 0 that knows whether it was given.
type optionalInt struct {
	n   int
	set bool
}

func (o *optionalInt) String() string {
	if !o.set {
		return ""
	}
	return strconv.Itoa(o.n)
}

func (o *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return errors.New("not a number ≥ 0")
	}
	o.n, o.set = n, true
	return nil
}

// keyList is a repeatable flag of keys, each a key or a file holding one.
type keyList []string

func (l *keyList) String() string { return strings.Join(*l, ",") }
func (l *keyList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func (l keyList) read() ([]string, error) {
	keys := make([]string, len(l))
	for i, k := range l {
		var err error
		if keys[i], err = readKey(k); err != nil {
			return nil, err
		}
	}
	return keys, nil
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
		return "", fmt.Errorf("key %q is neither a file nor a verifier key (origin+hash+key)", k)
	}
	return k, nil
}

// maxState bounds the state file: one checkpoint with its cosignatures.
const maxState = 64 << 10

// readState returns the checkpoint saved in the state file, or nil if
// there is no file yet. Anything else unreadable fails: a state that
// vanished into garbage must not silently restart trust.
func readState(path string) ([]byte, error) {
	b, err := readCapped(path, maxState)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read the state file: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("the state file %s is empty; remove it to start over", path)
	}
	return b, nil
}

func readCapped(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// writeFileAtomic replaces path with data so that a crash leaves either
// the old file or the new one: a synced temporary file renamed over it,
// then the directory synced.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
