// Package translog is custodes' public transparency log and its verifier.
//
// The log is a C2SP tlog-tiles Merkle tree kept by Tessera's POSIX storage
// in one directory, with checkpoints signed as C2SP tlog-checkpoint notes by
// an Ed25519 key. custodes appends one [record] entry per decision and
// serves the directory read-only; anyone holding the verifier key can check
// that nothing was removed or rewritten.
//
// Writing:
//
//	skey, vkey, _ := translog.GenerateKey("demo.custodes/agency")
//	l, err := translog.Open(ctx, translog.Options{Dir: dir, SignerKey: skey, Logger: logger})
//	...
//	idx, err := l.Append(ctx, entry) // durable once it returns nil
//	...
//	l.Close()
//
// Serving, read-only, per tlog-tiles:
//
//	mux.Handle("/log/", http.StripPrefix("/log", translog.Handler(dir)))
//
// Verifying, from the directory or its URL:
//
//	src, err := translog.OpenSource("https://example.org/log/")
//	res, err := translog.Verify(ctx, src, vkey, translog.VerifyOptions{
//		Entry: func(i uint64, b []byte) error { _, err := record.Parse(b); return err },
//	})
//
// Verify recomputes the whole tree from the entries, so it detects any
// flipped, dropped or reordered byte of any entry bundle, tile or
// checkpoint, and on failure returns a [*VerifyError] with the evidence.
//
// Ordering and deduplication are the caller's job: the log stores what it is
// given, identical entries included.
//
// [record]: github.com/custodes/custodes/record
package translog
