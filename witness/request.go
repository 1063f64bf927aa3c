package witness

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
)

// The add-checkpoint request body, per tlog-witness:
//
//	old SIZE        decimal, no leading zeros
//	HASH            0 to 63 lines, base64 of 32 bytes each
//	                (an empty line)
//	CHECKPOINT      the rest: a signed note
//
// every line ending in a newline.

const (
	maxProofLines = 63
	// maxBody bounds a request: the proof is at most ~3 KiB; the rest is
	// the checkpoint with its signatures.
	maxBody = 64 << 10
	// maxResponse bounds the cosignature lines a witness may answer.
	maxResponse = 16 << 10
)

var strictB64 = base64.StdEncoding.Strict()

func formatRequest(oldSize uint64, proof [][]byte, checkpoint []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", oldSize)
	for _, h := range proof {
		b.WriteString(strictB64.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(checkpoint)
	return b.Bytes()
}

// parseRequest parses an add-checkpoint body strictly: one spelling of
// each size and hash. The checkpoint is checked later, by Witness.Add.
func parseRequest(body []byte) (oldSize uint64, proof [][]byte, checkpoint []byte, err error) {
	if len(body) > maxBody {
		return 0, nil, nil, fmt.Errorf("%w: body larger than %d bytes", ErrMalformed, maxBody)
	}
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	v, isOld := bytes.CutPrefix(line, []byte("old "))
	if !ok || !isOld {
		return 0, nil, nil, fmt.Errorf("%w: the first line is not an old size line", ErrMalformed)
	}
	oldSize, err = strconv.ParseUint(string(v), 10, 64)
	if err != nil || strconv.FormatUint(oldSize, 10) != string(v) {
		return 0, nil, nil, fmt.Errorf("%w: old size %q is not a decimal without leading zeros", ErrMalformed, v)
	}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return 0, nil, nil, fmt.Errorf("%w: no empty line before the checkpoint", ErrMalformed)
		}
		if len(line) == 0 {
			break
		}
		if len(proof) == maxProofLines {
			return 0, nil, nil, fmt.Errorf("%w: more than %d consistency proof lines", ErrMalformed, maxProofLines)
		}
		h, err := strictB64.DecodeString(string(line))
		if err != nil || len(h) != 32 || strictB64.EncodeToString(h) != string(line) {
			return 0, nil, nil, fmt.Errorf("%w: proof line %d is not a 32-byte hash in base64", ErrMalformed, len(proof)+1)
		}
		proof = append(proof, h)
	}
	if len(rest) == 0 {
		return 0, nil, nil, fmt.Errorf("%w: no checkpoint", ErrMalformed)
	}
	return oldSize, proof, rest, nil
}
