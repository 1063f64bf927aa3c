package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Submit asks the witness whose submission prefix is url (such as
// "https://witness.example/") to cosign checkpoint, given the size it last
// cosigned for the log and an RFC 6962 consistency proof from that size
// (empty for 0). It returns the cosignature lines as the witness sent them,
// checked only for form: verify them with the witness's key
// ([VerifyCosignatures] on the checkpoint with the lines appended) before
// relying on them.
//
// If the witness last cosigned another size, the error is a
// *ConflictError with that size (unless Fork): prove consistency from it
// and submit again. Other refusals wrap ErrMalformed, ErrNotSigned,
// ErrUnknownLog or ErrInconsistent. ctx bounds the request.
func Submit(ctx context.Context, url string, oldSize uint64, proof [][]byte, checkpoint []byte) (cosignatures []byte, err error) {
	endpoint, err := addCheckpointURL(url)
	if err != nil {
		return nil, err
	}
	if len(proof) > maxProofLines {
		return nil, fmt.Errorf("couldn't submit to witness: %d proof hashes, more than %d", len(proof), maxProofLines)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(formatRequest(oldSize, proof, checkpoint)))
	if err != nil {
		return nil, fmt.Errorf("couldn't submit to witness: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("couldn't submit to witness at %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("couldn't read the answer of witness at %s: %w", endpoint, err)
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("witness at %s answered more than %d bytes", endpoint, maxResponse)
	}
	refused := func(reason error) error {
		return fmt.Errorf("witness at %s refused: %w (%s)", endpoint, reason, strings.TrimSpace(string(body)))
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if err := checkSignatureLines(body); err != nil {
			return nil, fmt.Errorf("witness at %s answered %w", endpoint, err)
		}
		return body, nil
	case http.StatusConflict:
		if resp.Header.Get("Content-Type") != "text/x.tlog.size" {
			return nil, &ConflictError{Size: oldSize, Fork: true}
		}
		s := strings.TrimSuffix(string(body), "\n")
		size, err := strconv.ParseUint(s, 10, 64)
		if err != nil || !strings.HasSuffix(string(body), "\n") {
			return nil, fmt.Errorf("witness at %s answered 409 with a malformed size %q", endpoint, body)
		}
		return nil, &ConflictError{Size: size}
	case http.StatusBadRequest:
		return nil, refused(ErrMalformed)
	case http.StatusForbidden:
		return nil, refused(ErrNotSigned)
	case http.StatusNotFound:
		return nil, refused(ErrUnknownLog)
	case http.StatusUnprocessableEntity:
		return nil, refused(ErrInconsistent)
	}
	return nil, refused(errors.New(resp.Status))
}

func addCheckpointURL(prefix string) (string, error) {
	u, err := url.Parse(prefix)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("couldn't submit to witness: %q is not an http(s) URL", prefix)
	}
	return u.JoinPath("add-checkpoint").String(), nil
}

// checkSignatureLines checks that b is one or more note signature lines.
func checkSignatureLines(b []byte) error {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return errors.New("no signature lines")
	}
	for _, l := range bytes.SplitAfter(b[:len(b)-1], []byte("\n")) {
		if !bytes.HasPrefix(l, []byte("— ")) || bytes.Count(l, []byte(" ")) != 2 {
			return fmt.Errorf("a line that is not a note signature: %q", l)
		}
	}
	return nil
}

// VerifyCosignatures returns the names of the witnesses, among those whose
// keys are given, that validly cosigned checkpoint (C2SP tlog-cosignature
// v1). A key is a note vkey: the witness's cosignature key (type 0x04, as
// its VerifierKey) or the plain Ed25519 key (type 0x01) of the same
// signer key. Signatures by other keys, the log's own included, are
// ignored: check the log's signature separately. A cosignature that claims
// one of the given keys but doesn't verify is an error, not a mere miss.
func VerifyCosignatures(checkpoint []byte, witnessKeys []string) ([]string, error) {
	type id struct {
		name string
		hash uint32
	}
	var vs []note.Verifier
	seen := map[id]bool{}
	for _, k := range witnessKeys {
		v, err := fnote.NewVerifierForCosignatureV1(k)
		if err != nil {
			return nil, fmt.Errorf("couldn't parse witness key %q: %w", k, err)
		}
		if !seen[id{v.Name(), v.KeyHash()}] {
			seen[id{v.Name(), v.KeyHash()}] = true
			vs = append(vs, v)
		}
	}
	n, err := note.Open(checkpoint, note.VerifierList(vs...))
	var unverified *note.UnverifiedNoteError
	if errors.As(err, &unverified) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't check cosignatures: %w", err)
	}
	names := make([]string, len(n.Sigs))
	for i, s := range n.Sigs {
		names[i] = s.Name
	}
	return names, nil
}
