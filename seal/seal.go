// Package seal encrypts the detail records behind log entries to the
// overseers, with age (filippo.io/age, the format of C2SP age,
// https://c2sp.org/age), so that the operator who stores them cannot read
// them later.
//
// A public entry commits to the SHA-256 of its detail's plaintext; the
// control database keeps only the sealed detail. An overseer opens it with
// their identity and checks the plaintext against the entry's commitment, so
// neither the operator nor the overseer can swap a detail unnoticed.
//
// # Epochs
//
// The gateway seals one detail per SQL statement, so sealing must be cheap.
// An age file costs an X25519 key generation, key agreement and HKDF per
// recipient (about 250 µs of CPU), so a [Sealer] does that only once per
// epoch: it draws a random 32-byte epoch key, encrypts it once with age to
// every recipient (the "wrapped key", an ordinary age file whose plaintext
// is the 32 bytes of the key), and then seals each detail with
// XChaCha20-Poly1305 under the epoch key (about 1 µs for a 300-byte
// detail). An epoch ends after ten minutes or 100,000 details, whichever
// comes first; the Seal call that finds it ended makes the next one
// (concurrent callers wait for that one rotation instead of each making
// their own), so no epoch key is handed out for more than 100,000 details
// or after its ten minutes.
//
// # Format (custodes-sealed/v2)
//
// Every sealed detail is self-contained: opening it needs nothing but the
// blob and an overseer identity. Byte for byte, with n the length of the
// wrapped key:
//
//	offset  length  field
//	0       19      magic: "custodes-sealed/v2\n" (ASCII, ending in 0x0a)
//	19      4       n, unsigned big-endian; 1 ≤ n ≤ 65536
//	23      n       wrapped key: a binary (not armored) age v1 file — C2SP
//	                age, "Encrypted file format": header with one X25519
//	                stanza per overseer and the header MAC, then the
//	                payload (16-byte nonce, one final STREAM chunk) —
//	                whose plaintext is exactly the 32-byte epoch key
//	23+n    24      nonce: random, drawn for this detail alone
//	47+n    rest    XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha; the NewX
//	                AEAD of golang.org/x/crypto/chacha20poly1305) sealing
//	                the detail: key = epoch key, nonce = the 24 bytes above,
//	                additional data = bytes [0, 23+n) (magic, n, wrapped
//	                key); the detail's ciphertext followed by the 16-byte
//	                Poly1305 tag, so 16 ≤ length ≤ 4 MiB + 16
//
// Parsing is strict: the blob ends where the AEAD ciphertext ends (bytes
// appended to it fail authentication), a wrapped key over 64 KiB or a
// ciphertext whose detail would be over 4 MiB is refused before any
// decryption, and the wrapped key must decrypt (age.Decrypt, which also
// refuses trailing bytes after its final chunk) to exactly 32 bytes.
//
// The format before this one (call it v1) is still opened: a blob that does
// not start with "custodes-sealed/" is read as a binary age v1 file whose
// plaintext is the detail itself (so it starts with "age-encryption.org/v1\n").
// Control databases written before epochs hold such blobs.
//
// # Why this is as confidential as one age file per detail
//
//   - Each epoch key is 32 bytes from crypto/rand, is kept only in the
//     gateway's memory for the epoch's life, and is stored only wrapped to
//     the overseers by age; the operator who stores the blobs holds no
//     identity, so cannot unwrap it and cannot read any detail. age's rule
//     that a file key is never reused across files (C2SP age, "File key") is
//     kept: the wrapped key is one age file made by age.Encrypt; the epoch
//     key is that file's plaintext, not its file key.
//   - The nonce of each detail is 192 random bits, so the many details of
//     one epoch key never repeat a nonce (the chance of any repeat among
//     100,000 is about 2^-160), which is why XChaCha20 is used rather than
//     ChaCha20-Poly1305's 96-bit nonces.
//   - The header (magic, length, wrapped key) is the AEAD's additional data,
//     so a blob cannot be given another header: not another epoch's wrapped
//     key, nor another wrapping of the same epoch key.
//   - An overseer who can open one detail of an epoch can open all of that
//     epoch's details; that gives nothing away, since every overseer is a
//     recipient of every detail anyway.
//   - Anyone can seal a blob to the overseers (their recipients are public),
//     and ChaCha20-Poly1305 does not commit to its key; neither matters
//     because what authenticates a detail is the SHA-256 commitment in the
//     public log, which [Open] checks on the plaintext it gets.
//   - What epochs add is exposure of the gateway's memory: someone who reads
//     the current epoch key can open the details sealed earlier in that
//     epoch (at most ten minutes' worth), which the gateway had in plaintext
//     moments before. Rotation bounds that window.
package seal

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// maxDetail bounds a detail record.
	maxDetail = 4 << 20
	// maxWrapped bounds the wrapped key of a v2 blob (an X25519 stanza is
	// about 100 bytes, so this allows hundreds of overseers).
	maxWrapped = 64 << 10
	// magic starts every v2 blob; formatPrefix, any custodes format.
	magic        = "custodes-sealed/v2\n"
	formatPrefix = "custodes-sealed/"
	// epochKeySize is the size of an epoch key (XChaCha20-Poly1305's).
	epochKeySize = chacha20poly1305.KeySize
)

// An epoch ends after defaultMaxAge or defaultMaxUses details, whichever
// comes first.
const (
	defaultMaxAge  = 10 * time.Minute
	defaultMaxUses = 100_000
)

// Sealer encrypts to a fixed set of recipients. It is safe for concurrent
// use.
type Sealer struct {
	recipients []age.Recipient
	maxUses    int64
	maxAge     time.Duration
	now        func() time.Time

	cur atomic.Pointer[epoch]
	mu  sync.Mutex // held while making the next epoch
}

// epoch is one epoch key, ready to seal with.
type epoch struct {
	aead    cipher.AEAD
	header  []byte // magic, length, wrapped key: the start of every blob
	expires time.Time
	uses    atomic.Int64 // details sealed, or attempted, with this key
}

// NewSealer parses age recipients ("age1…"). At least one is required: a
// detail sealed to nobody is lost.
func NewSealer(recipients []string) (*Sealer, error) {
	return newSealer(recipients, defaultMaxUses, defaultMaxAge, time.Now)
}

// newSealer is NewSealer with the epoch's bounds and clock, for tests.
func newSealer(recipients []string, maxUses int64, maxAge time.Duration, now func() time.Time) (*Sealer, error) {
	if len(recipients) == 0 {
		return nil, errors.New("at least one overseer recipient is required")
	}
	if maxUses < 1 || maxAge <= 0 {
		return nil, errors.New("an epoch must allow at least one detail and some time")
	}
	s := &Sealer{maxUses: maxUses, maxAge: maxAge, now: now}
	for _, r := range recipients {
		rc, err := age.ParseX25519Recipient(strings.TrimSpace(r))
		if err != nil {
			return nil, fmt.Errorf("overseer recipient %q: %w", r, err)
		}
		s.recipients = append(s.recipients, rc)
	}
	// The first epoch now, so that a recipient list too long to wrap to
	// fails here rather than on the first statement.
	e, err := s.newEpoch(now())
	if err != nil {
		return nil, err
	}
	s.cur.Store(e)
	return s, nil
}

// newEpoch draws an epoch key and wraps it to the recipients.
func (s *Sealer) newEpoch(now time.Time) (*epoch, error) {
	key := make([]byte, epochKeySize)
	rand.Read(key)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("couldn't start a sealing epoch: %w", err)
	}
	var wrapped bytes.Buffer
	w, err := age.Encrypt(&wrapped, s.recipients...)
	if err != nil {
		return nil, fmt.Errorf("couldn't wrap the epoch key: %w", err)
	}
	if _, err := w.Write(key); err != nil {
		return nil, fmt.Errorf("couldn't wrap the epoch key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("couldn't wrap the epoch key: %w", err)
	}
	if wrapped.Len() > maxWrapped {
		return nil, fmt.Errorf("the epoch key wrapped to %d overseers takes %d bytes, over the %d a sealed detail allows", len(s.recipients), wrapped.Len(), maxWrapped)
	}
	header := make([]byte, 0, len(magic)+4+wrapped.Len())
	header = append(header, magic...)
	header = binary.BigEndian.AppendUint32(header, uint32(wrapped.Len()))
	header = append(header, wrapped.Bytes()...)
	return &epoch{aead: aead, header: header, expires: now.Add(s.maxAge)}, nil
}

// use counts one detail against e, and reports whether e may seal it.
func (e *epoch) use(now time.Time, maxUses int64) bool {
	return now.Before(e.expires) && e.uses.Add(1) <= maxUses
}

// epoch returns the epoch to seal one detail with, counted against it,
// making the next epoch if the current one has ended.
func (s *Sealer) epoch() (*epoch, error) {
	if e := s.cur.Load(); e.use(s.now(), s.maxUses) {
		return e, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Another caller may have made the next epoch while this one waited.
	now := s.now()
	if e := s.cur.Load(); e.use(now, s.maxUses) {
		return e, nil
	}
	e, err := s.newEpoch(now)
	if err != nil {
		return nil, err
	}
	e.uses.Store(1)
	s.cur.Store(e)
	return e, nil
}

// Seal encrypts plaintext to every recipient, in the v2 format of the
// package documentation.
func (s *Sealer) Seal(plaintext []byte) ([]byte, error) {
	if len(plaintext) > maxDetail {
		// Open would refuse it: better to fail now than store a detail
		// nobody can read.
		return nil, fmt.Errorf("couldn't seal: the detail is larger than %d bytes", maxDetail)
	}
	e, err := s.epoch()
	if err != nil {
		return nil, fmt.Errorf("couldn't seal: %w", err)
	}
	h := len(e.header)
	out := make([]byte, h+chacha20poly1305.NonceSizeX, h+chacha20poly1305.NonceSizeX+len(plaintext)+chacha20poly1305.Overhead)
	copy(out, e.header)
	nonce := out[h:]
	rand.Read(nonce)
	return e.aead.Seal(out, nonce, plaintext, out[:h]), nil
}

// ErrMismatch means a detail does not match its entry's commitment.
var ErrMismatch = errors.New("the detail does not match the entry's commitment")

// Open decrypts a sealed detail, of either format in the package
// documentation, with an overseer's identities (the text of an age identity
// file) and checks it against commitment. On ErrMismatch it also returns the
// plaintext it found.
func Open(sealed []byte, identities io.Reader, commitment [32]byte) ([]byte, error) {
	ids, err := age.ParseIdentities(identities)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the identity: %w", err)
	}
	var plain []byte
	switch {
	case bytes.HasPrefix(sealed, []byte(magic)):
		plain, err = openV2(sealed, ids)
	case bytes.HasPrefix(sealed, []byte(formatPrefix)):
		line, _, _ := bytes.Cut(sealed[:min(len(sealed), 64)], []byte("\n"))
		err = fmt.Errorf("couldn't unseal: unknown format %q", line)
	default:
		plain, err = openAge(sealed, ids, maxDetail)
	}
	if err != nil {
		return nil, err
	}
	if sha256.Sum256(plain) != commitment {
		return plain, ErrMismatch
	}
	return plain, nil
}

// openV2 opens a custodes-sealed/v2 blob.
func openV2(sealed []byte, ids []age.Identity) ([]byte, error) {
	rest := sealed[len(magic):]
	if len(rest) < 4 {
		return nil, errors.New("couldn't unseal: the sealed detail is truncated")
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if n == 0 || n > maxWrapped {
		return nil, fmt.Errorf("couldn't unseal: a wrapped key of %d bytes (1 to %d allowed)", n, maxWrapped)
	}
	if uint64(len(rest)) < uint64(n)+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, errors.New("couldn't unseal: the sealed detail is truncated")
	}
	header := sealed[:len(magic)+4+int(n)]
	wrapped, rest := rest[:n], rest[n:]
	nonce, ciphertext := rest[:chacha20poly1305.NonceSizeX], rest[chacha20poly1305.NonceSizeX:]
	if len(ciphertext) > maxDetail+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("couldn't unseal: the detail is larger than %d bytes", maxDetail)
	}
	key, err := openAge(wrapped, ids, epochKeySize)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	if len(key) != epochKeySize {
		return nil, fmt.Errorf("couldn't unseal: the wrapped key has %d bytes, not %d", len(key), epochKeySize)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("couldn't unseal: %w", err)
	}
	plain, err := aead.Open(nil, nonce, ciphertext, header)
	if err != nil {
		return nil, fmt.Errorf("couldn't unseal: the sealed detail was altered: %w", err)
	}
	return plain, nil
}

// openAge decrypts a binary age file of at most limit bytes of plaintext.
func openAge(file []byte, ids []age.Identity, limit int) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(file), ids...)
	if err != nil {
		return nil, fmt.Errorf("couldn't unseal (is this identity one of the overseers'?): %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("couldn't unseal: %w", err)
	}
	if len(plain) > limit {
		return nil, fmt.Errorf("couldn't unseal: more than %d bytes sealed", limit)
	}
	return plain, nil
}

// NewIdentity makes an overseer identity: the secret (an age identity file's
// text) and the recipient to put in custodes.yaml.
func NewIdentity() (identity, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", err
	}
	return id.String(), id.Recipient().String(), nil
}
