package translog

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// GenerateKey makes a new Ed25519 note signer key (skey, secret) and its
// verifier key (vkey, public) for the log named origin, such as
// "demo.custodes/agency". The origin is the first line of every checkpoint.
func GenerateKey(origin string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("couldn't generate log key: %w", err)
	}
	// note.GenerateKey doesn't check the name; NewSigner does.
	if _, err := note.NewSigner(skey); err != nil {
		return "", "", fmt.Errorf("couldn't generate log key for origin %q: %w", origin, err)
	}
	return skey, vkey, nil
}

// verifierKey derives the verifier key from a signer key, so that a
// deployment needs to configure only the secret one. The signer key has
// already been accepted by note.NewSigner, which fixes its syntax:
// PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>.
func verifierKey(skey string) (string, error) {
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	f := strings.SplitN(rest, "+", 3) // name, hash, key (base64 may contain +)
	if !ok || len(f) != 3 {
		return "", errors.New("malformed signer key")
	}
	k, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil || len(k) != 1+ed25519.SeedSize || k[0] != 1 {
		return "", errors.New("signer key is not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(k[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(f[0], pub)
	if err != nil {
		return "", err
	}
	return vkey, nil
}
