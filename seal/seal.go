// Package seal encrypts the detail records behind log entries to the
// overseers, with age (filippo.io/age), so that the operator who stores
// them cannot read them later.
//
// A public entry commits to the SHA-256 of its detail's plaintext; the
// control database keeps only the age ciphertext. An overseer decrypts with
// their identity and checks the plaintext against the entry's commitment, so
// neither the operator nor the overseer can swap a detail unnoticed.
package seal

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
)

// maxDetail bounds a decrypted detail record.
const maxDetail = 4 << 20

// Sealer encrypts to a fixed set of recipients. It is safe for concurrent
// use.
type Sealer struct{ recipients []age.Recipient }

// NewSealer parses age recipients ("age1…"). At least one is required: a
// detail sealed to nobody is lost.
func NewSealer(recipients []string) (*Sealer, error) {
	if len(recipients) == 0 {
		return nil, errors.New("at least one overseer recipient is required")
	}
	s := &Sealer{}
	for _, r := range recipients {
		rc, err := age.ParseX25519Recipient(strings.TrimSpace(r))
		if err != nil {
			return nil, fmt.Errorf("overseer recipient %q: %w", r, err)
		}
		s.recipients = append(s.recipients, rc)
	}
	return s, nil
}

// Seal encrypts plaintext to every recipient.
func (s *Sealer) Seal(plaintext []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, s.recipients...)
	if err != nil {
		return nil, fmt.Errorf("couldn't seal: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("couldn't seal: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("couldn't seal: %w", err)
	}
	return buf.Bytes(), nil
}

// ErrMismatch means a detail does not match its entry's commitment.
var ErrMismatch = errors.New("the detail does not match the entry's commitment")

// Open decrypts a sealed detail with an overseer's identities (the text of
// an age identity file) and checks it against commitment.
func Open(sealed []byte, identities io.Reader, commitment [32]byte) ([]byte, error) {
	ids, err := age.ParseIdentities(identities)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the identity: %w", err)
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), ids...)
	if err != nil {
		return nil, fmt.Errorf("couldn't unseal (is this identity one of the overseers'?): %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxDetail+1))
	if err != nil {
		return nil, fmt.Errorf("couldn't unseal: %w", err)
	}
	if len(plain) > maxDetail {
		return nil, fmt.Errorf("the detail is larger than %d bytes", maxDetail)
	}
	if sha256.Sum256(plain) != commitment {
		return plain, ErrMismatch
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
