package translog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// A Bundle is the evidence that one entry is in the log: the entry's bytes,
// a Merkle inclusion proof, and the signed checkpoint the proof leads to.
// It verifies offline, with the log's verifier key alone ([Bundle.Verify]).
//
// # Format, byte for byte
//
// A bundle is a C2SP tlog-proof (https://c2sp.org/tlog-proof, v1) whose
// "extra" line, optional there, is required here and carries the entry
// itself. It is at most [MaxBundleSize] bytes: a sequence of lines, each
// ending in one newline (0x0A), in this order:
//
//	c2sp.org/tlog-proof@v1
//	extra ENTRY
//	index INDEX
//	HASH            zero to 63 lines
//	                (an empty line)
//	CHECKPOINT      the rest of the bundle
//
// ENTRY is the entry's bytes (1 to [MaxEntrySize] of them) in standard,
// padded base64 (RFC 4648 §4), in its one canonical spelling (no line
// breaks, padding bits zero). The entry's Merkle leaf hash is
// SHA-256(0x00 || entry), per RFC 6962.
//
// INDEX is the entry's zero-based index in the log, in decimal without
// leading zeros ("0" for the first entry).
//
// Each HASH is one 32-byte hash of the RFC 6962 §2.1.1 inclusion proof, in
// canonical padded base64 (44 bytes), from the leaf's sibling up to the
// root's child: exactly as many as the tree of the checkpoint's size needs
// for INDEX.
//
// CHECKPOINT is the log's signed checkpoint verbatim, as it served it: a
// C2SP signed note (https://c2sp.org/signed-note) whose text is a C2SP
// tlog-checkpoint (origin line, tree size in decimal without leading zeros,
// root hash in canonical padded base64 of 32 bytes, then any extension
// lines), an empty line, and one or more signature lines: the log's own
// and any witnesses' cosignatures, each in canonical base64 and none
// repeated. Its first line, the origin, is never
// empty, which is what ends the hash lines unambiguously.
//
// Nothing may follow the checkpoint's last newline, and nothing else is
// accepted: [ParseBundle] accepts exactly what [Bundle.Marshal] produces, so
// each bundle has one encoding. Such files conventionally end in
// .tlog-proof.
type Bundle struct {
	Index      uint64
	Entry      []byte
	Proof      [][]byte // inclusion proof, leaf's sibling first
	Checkpoint []byte   // signed checkpoint, verbatim
}

// MaxBundleSize bounds a bundle's encoding, so a hostile one cannot exhaust
// memory: room for the largest entry in base64 (87,380 bytes), 63 proof
// lines and a checkpoint carrying many cosignatures.
const MaxBundleSize = 128 << 10

const (
	bundleHeader   = "c2sp.org/tlog-proof@v1\n"
	maxProofHashes = 63
)

var b64 = base64.StdEncoding.Strict()

// Marshal encodes b. It fails if b could not be parsed back.
func (b *Bundle) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(bundleHeader)
	buf.WriteString("extra ")
	buf.WriteString(b64.EncodeToString(b.Entry))
	fmt.Fprintf(&buf, "\nindex %d\n", b.Index)
	for _, h := range b.Proof {
		buf.WriteString(b64.EncodeToString(h))
		buf.WriteByte('\n')
	}
	buf.WriteByte('\n')
	buf.Write(b.Checkpoint)
	out := buf.Bytes()
	if _, err := ParseBundle(out); err != nil {
		return nil, fmt.Errorf("couldn't encode bundle: %w", err)
	}
	return out, nil
}

// ParseBundle decodes a bundle, strictly (see [Bundle]). It checks syntax
// only; [Bundle.Verify] checks the signature and the proof.
func ParseBundle(data []byte) (*Bundle, error) {
	b, err := parseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse evidence bundle: %w", err)
	}
	return b, nil
}

func parseBundle(data []byte) (*Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%d bytes, more than %d", len(data), MaxBundleSize)
	}
	rest, ok := bytes.CutPrefix(data, []byte(bundleHeader))
	if !ok {
		return nil, errors.New("first line is not " + bundleHeader[:len(bundleHeader)-1])
	}
	line := func(what string) ([]byte, error) {
		l, r, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, fmt.Errorf("%s: unterminated line", what)
		}
		rest = r
		return l, nil
	}

	l, err := line("extra line")
	if err != nil {
		return nil, err
	}
	v, ok := bytes.CutPrefix(l, []byte("extra "))
	if !ok {
		return nil, errors.New("second line is not an extra line carrying the entry")
	}
	entry, err := decodeCanonical(v)
	if err != nil {
		return nil, fmt.Errorf("entry: %w", err)
	}
	if len(entry) == 0 || len(entry) > MaxEntrySize {
		return nil, fmt.Errorf("entry is %d bytes, want 1 to %d", len(entry), MaxEntrySize)
	}

	if l, err = line("index line"); err != nil {
		return nil, err
	}
	v, ok = bytes.CutPrefix(l, []byte("index "))
	if !ok {
		return nil, errors.New("third line is not an index line")
	}
	index, err := parseDecimal(v)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}

	var proof [][]byte
	for {
		if l, err = line("inclusion proof"); err != nil {
			return nil, err
		}
		if len(l) == 0 {
			break
		}
		if len(proof) == maxProofHashes {
			return nil, fmt.Errorf("more than %d proof hashes", maxProofHashes)
		}
		h, err := decodeCanonical(l)
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("proof line %d is not a 32-byte hash in base64", len(proof)+1)
		}
		proof = append(proof, h)
	}

	if _, err := checkpointBody(rest); err != nil {
		return nil, err
	}
	return &Bundle{Index: index, Entry: entry, Proof: proof, Checkpoint: bytes.Clone(rest)}, nil
}

// checkpointBody checks the syntax of a signed checkpoint, without
// verifying any signature, and returns its body.
func checkpointBody(cp []byte) (*log.Checkpoint, error) {
	// With no known keys, note.Open reports a well-formed note as
	// unverified, and anything else as malformed.
	_, err := note.Open(cp, nil)
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return nil, fmt.Errorf("checkpoint is not a signed note: %w", err)
	}
	// note.Open takes signatures in lenient base64 and drops repeated
	// ones; insist on one spelling of each, once.
	seen := map[string]bool{}
	for _, l := range strings.SplitAfter(string(cp[len(unverified.Note.Text)+1:]), "\n") {
		if l == "" {
			continue
		}
		_, sig, _ := strings.Cut(strings.TrimSuffix(l, "\n"), " ")
		_, sig, _ = strings.Cut(sig, " ")
		if _, err := decodeCanonical([]byte(sig)); err != nil || seen[l] {
			return nil, errors.New("checkpoint signature line is repeated or not in canonical base64")
		}
		seen[l] = true
	}
	text := []byte(unverified.Note.Text)
	var c log.Checkpoint
	if _, err := c.Unmarshal(text); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	// Unmarshal is lenient (leading zeros, any hash length); insist on the
	// one spelling.
	if len(c.Hash) != 32 || !bytes.HasPrefix(text, c.Marshal()) {
		return nil, errors.New("checkpoint is not in canonical tlog-checkpoint form")
	}
	return &c, nil
}

// decodeCanonical decodes padded standard base64, accepting only the
// encoding EncodeToString would produce (the decoder skips newlines and
// carriage returns; Strict rejects nonzero padding bits).
func decodeCanonical(s []byte) ([]byte, error) {
	b, err := b64.DecodeString(string(s))
	if err != nil {
		return nil, err
	}
	if b64.EncodeToString(b) != string(s) {
		return nil, errors.New("not canonical base64")
	}
	return b, nil
}

// parseDecimal parses a decimal uint64 without sign or leading zeros.
func parseDecimal(s []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != string(s) {
		return 0, fmt.Errorf("%q is not a decimal number without leading zeros", s)
	}
	return n, nil
}
