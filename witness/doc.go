// Package witness is a C2SP tlog-witness (https://c2sp.org/tlog-witness):
// a third party that cosigns a log's checkpoints only once it has proved
// each one consistent with the last one it cosigned for that log, so that
// a log cannot show one history to some and another to others, or roll
// back, without a witness refusing.
//
// Running a witness, over HTTP:
//
//	store, err := witness.OpenDirStore(dir) // durable state, one file per log
//	w, err := witness.New(witness.Config{
//		SignerKey: skey,                    // custodes keygen --origin witness.example/w1
//		LogKeys:   []string{logVKey},       // the logs it witnesses; key name = origin
//		Store:     store,
//		Logger:    logger,
//	})
//	http.ListenAndServe(addr, w)            // POST /add-checkpoint
//
// [Witness.Add] is the same decision without HTTP. Cosignatures are
// C2SP tlog-cosignature v1 (Ed25519, timestamped), made and checked with
// github.com/transparency-dev/formats/note; [Witness.VerifierKey] is the
// key clients check them with.
//
// A log asks for a cosignature with [Submit]: the size the witness last
// cosigned, a consistency proof from it (translog.ConsistencyProof), and
// the new checkpoint. If the witness's size is not the one the log
// assumed, Submit returns a *[ConflictError] holding the witness's size:
// build the proof from there and submit again. Append the returned lines
// to the checkpoint, and check them with [VerifyCosignatures] before
// publishing it.
//
// A verifier requires cosignatures with [VerifyCosignatures], given the
// witnesses' keys.
package witness
