package witness

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// The reasons a witness refuses, one per tlog-witness status code.
var (
	ErrMalformed    = errors.New("malformed request")                                     // 400 Bad Request
	ErrNotSigned    = errors.New("checkpoint not signed by a key trusted for its origin") // 403 Forbidden
	ErrUnknownLog   = errors.New("unknown log origin")                                    // 404 Not Found
	ErrInconsistent = errors.New("consistency proof does not verify")                     // 422 Unprocessable Entity
)

// ConflictError is a refusal with 409 Conflict: the old size is not the
// size the witness last cosigned (Size), or it is but the root differs
// (Fork: the log signed two trees of that size).
type ConflictError struct {
	Size uint64
	Fork bool
}

func (e *ConflictError) Error() string {
	if e.Fork {
		return fmt.Sprintf("conflict: the witness cosigned another root for a tree of %d entries", e.Size)
	}
	return fmt.Sprintf("conflict: the witness last cosigned a tree of %d entries", e.Size)
}

// Store keeps, for each log origin, the latest checkpoint the witness
// cosigned.
//
// Contract: Get returns nil and no error for an origin never stored. Put
// returns nil only once the checkpoint is durable (it survives a crash);
// a failed Put leaves the previous checkpoint in place. A Witness calls
// them one at a time.
type Store interface {
	Get(origin string) ([]byte, error)
	Put(origin string, checkpoint []byte) error
}

// Config configures [New].
type Config struct {
	// SignerKey is the witness's note signer key (PRIVATE+KEY+…, Ed25519,
	// as custodes keygen makes); its name is the witness's name.
	SignerKey string
	// LogKeys are the note verifier keys of the logs to witness. Each key's
	// name is the origin of the log it signs for; an origin may have more
	// than one key.
	LogKeys []string
	Store   Store
	// Logger receives every decision; nil discards them.
	Logger *slog.Logger
}

// Witness cosigns checkpoints. Its methods are safe for concurrent use.
type Witness struct {
	signer note.Signer
	vkey   string
	logs   map[string]note.Verifiers
	store  Store
	log    *slog.Logger

	// mu makes checking against the stored checkpoint and storing the new
	// one atomic, as tlog-witness requires (else a slow request for a
	// smaller tree could roll back a faster one for a larger tree).
	mu sync.Mutex
}

// New makes a witness.
func New(c Config) (*Witness, error) {
	signer, err := fnote.NewSignerForCosignatureV1(c.SignerKey)
	if err != nil {
		return nil, fmt.Errorf("couldn't make witness: bad signer key: %w", err)
	}
	vkey, err := cosignatureKey(c.SignerKey, signer.Name())
	if err != nil {
		return nil, fmt.Errorf("couldn't make witness: %w", err)
	}
	if c.Store == nil {
		return nil, errors.New("couldn't make witness: no store")
	}
	byOrigin := map[string][]note.Verifier{}
	for _, k := range c.LogKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("couldn't make witness: bad log key %q: %w", k, err)
		}
		byOrigin[v.Name()] = append(byOrigin[v.Name()], v)
	}
	if len(byOrigin) == 0 {
		return nil, errors.New("couldn't make witness: no log keys")
	}
	logs := map[string]note.Verifiers{}
	for o, vs := range byOrigin {
		logs[o] = note.VerifierList(vs...)
	}
	lg := c.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Witness{signer: signer, vkey: vkey, logs: logs, store: c.Store, log: lg}, nil
}

// cosignatureKey is the C2SP tlog-cosignature vkey (type 0x04) for an
// Ed25519 note signer key. note has no way to derive a verifier key from a
// signer key, so this reads the seed: PRIVATE+KEY+name+hash+base64(0x01||seed).
func cosignatureKey(skey, name string) (string, error) {
	f := strings.SplitN(skey, "+", 5) // the base64 may hold a +; the name can't
	if len(f) != 5 {
		return "", errors.New("malformed signer key")
	}
	k, err := base64.StdEncoding.DecodeString(f[4])
	if err != nil || len(k) != 1+ed25519.SeedSize || k[0] != 1 {
		return "", errors.New("signer key is not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(k[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", err
	}
	return fnote.VKeyToCosignatureV1(vkey)
}

// Name returns the witness's name, as in its cosignature lines.
func (w *Witness) Name() string { return w.signer.Name() }

// VerifierKey returns the key that verifies the witness's cosignatures: a
// C2SP signed-note vkey of type 0x04 (cosignature/v1), for
// [VerifyCosignatures] and custodes verify --witness-key.
func (w *Witness) VerifierKey() string { return w.vkey }

// Add is the tlog-witness add-checkpoint decision: it cosigns checkpoint if
// it is signed by a key of its log, oldSize is the size of the latest
// checkpoint the witness cosigned for that log (0 if none), and proof is a
// valid RFC 6962 consistency proof from that checkpoint to this one. It
// returns the cosignature line(s), "— name base64\n", after storing the
// checkpoint durably as the log's latest. Any refusal wraps one of the Err
// values or is a *ConflictError.
func (w *Witness) Add(oldSize uint64, consistency [][]byte, checkpoint []byte) ([]byte, error) {
	origin, n, c, err := w.open(checkpoint)
	if err != nil {
		w.log.Warn("witness refused a checkpoint", "origin", origin, "err", err)
		return nil, err
	}
	if oldSize > c.Size {
		return nil, fmt.Errorf("%w: old size %d is larger than the checkpoint's %d", ErrMalformed, oldSize, c.Size)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	lastSize, lastRoot, err := w.latest(origin)
	if err != nil {
		return nil, err
	}
	if oldSize != lastSize {
		w.log.Info("witness: old size conflict", "origin", origin, "old", oldSize, "latest", lastSize, "size", c.Size)
		return nil, &ConflictError{Size: lastSize}
	}
	if oldSize == c.Size {
		if len(consistency) > 0 {
			return nil, fmt.Errorf("%w: a proof between equal sizes must be empty", ErrInconsistent)
		}
		if !bytes.Equal(lastRoot, c.Hash) {
			w.log.Warn("witness: FORK: the log signed two roots for one size", "origin", origin, "size", c.Size,
				"cosigned_root", base64.StdEncoding.EncodeToString(lastRoot), "checkpoint", string(checkpoint))
			return nil, &ConflictError{Size: lastSize, Fork: true}
		}
	} else if err := proof.VerifyConsistency(rfc6962.DefaultHasher, oldSize, c.Size, consistency, lastRoot, c.Hash); err != nil {
		// Possibly proof of misbehaviour: keep it in the log.
		w.log.Warn("witness: consistency proof does not verify", "origin", origin, "old", oldSize, "size", c.Size,
			"err", err, "proof", encodeProof(consistency), "checkpoint", string(checkpoint))
		return nil, fmt.Errorf("%w: from %d to %d entries: %v", ErrInconsistent, oldSize, c.Size, err)
	}

	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		return nil, fmt.Errorf("couldn't cosign: %w", err)
	}
	if err := w.store.Put(origin, checkpoint); err != nil {
		return nil, fmt.Errorf("couldn't store the cosigned checkpoint: %w", err)
	}
	w.log.Info("witness cosigned", "origin", origin, "old", oldSize, "size", c.Size)
	return signed[len(n.Text)+1:], nil
}

// open checks that checkpoint is a checkpoint of a known log, signed by
// one of its keys, and returns its origin, note and body.
func (w *Witness) open(checkpoint []byte) (string, *note.Note, *log.Checkpoint, error) {
	origin, _, ok := bytes.Cut(checkpoint, []byte("\n"))
	if !ok {
		return "", nil, nil, fmt.Errorf("%w: the checkpoint has no origin line", ErrMalformed)
	}
	vs, ok := w.logs[string(origin)]
	if !ok {
		return string(origin), nil, nil, fmt.Errorf("%w: %q", ErrUnknownLog, origin)
	}
	n, err := note.Open(checkpoint, vs)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return string(origin), nil, nil, fmt.Errorf("%w: %v", ErrNotSigned, err)
		}
		return string(origin), nil, nil, fmt.Errorf("%w: the checkpoint is not a signed note: %v", ErrMalformed, err)
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil || c.Origin != string(origin) || len(c.Hash) != 32 {
		return string(origin), nil, nil, fmt.Errorf("%w: the note is not a checkpoint: %v", ErrMalformed, err)
	}
	return string(origin), n, &c, nil
}

// latest returns the size and root of the latest cosigned checkpoint for
// origin, re-verified: a damaged or foreign state file stops the witness
// for that log rather than letting it cosign from a false base.
func (w *Witness) latest(origin string) (uint64, []byte, error) {
	raw, err := w.store.Get(origin)
	if err != nil {
		return 0, nil, fmt.Errorf("couldn't read the witness state for %s: %w", origin, err)
	}
	if raw == nil {
		return 0, rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	o, _, c, err := w.open(raw)
	if err != nil || o != origin {
		return 0, nil, fmt.Errorf("the witness state for %s does not verify: %v", origin, err)
	}
	return c.Size, c.Hash, nil
}

func encodeProof(p [][]byte) string {
	s := make([]string, len(p))
	for i, h := range p {
		s[i] = base64.StdEncoding.EncodeToString(h)
	}
	return strings.Join(s, " ")
}
