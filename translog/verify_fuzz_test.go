package translog

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// fuzzSource serves one signed checkpoint and the same fuzzed bytes for
// every tile and every entry bundle: what a hostile log server could send.
type fuzzSource struct {
	checkpoint, tile, bundle []byte
}

func (f fuzzSource) ReadCheckpoint(context.Context) ([]byte, error) { return f.checkpoint, nil }
func (f fuzzSource) ReadTile(context.Context, uint64, uint64, uint8) ([]byte, error) {
	if f.tile == nil {
		return nil, errors.New("no tile")
	}
	return f.tile, nil
}
func (f fuzzSource) ReadEntryBundle(context.Context, uint64, uint8) ([]byte, error) {
	if f.bundle == nil {
		return nil, errors.New("no bundle")
	}
	return f.bundle, nil
}

// FuzzVerify feeds Verify a correctly signed checkpoint of a fuzzed size
// and root, with fuzzed tiles and bundles behind it, and a fuzzed raw
// checkpoint: it must never panic, and must accept only what is consistent
// (here, only an empty log can be, or a tree the fuzzer happens to build
// exactly right).
func FuzzVerify(f *testing.F) {
	skey, vkey, err := GenerateKey(testOrigin)
	if err != nil {
		f.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint16(0), make([]byte, 32), []byte{}, []byte{}, []byte{})
	f.Add(uint16(1), make([]byte, 32), []byte{}, []byte{0, 5, 'h', 'e', 'l', 'l', 'o'}, []byte{})
	f.Add(uint16(3), make([]byte, 32), make([]byte, 96), []byte{0, 1, 'a', 0, 1, 'b', 0, 1, 'c'}, []byte("x\n1\nAAAA\n\n— x y\n"))
	f.Add(uint16(300), make([]byte, 32), make([]byte, 256*32), []byte{0, 0}, []byte{})
	f.Fuzz(func(t *testing.T, size uint16, root, tile, bundle, raw []byte) {
		if len(root) != 32 {
			return
		}
		text := fmt.Sprintf("%s\n%d\n%s\n", testOrigin, size, base64.StdEncoding.EncodeToString(root))
		cp, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		res, err := Verify(ctx, fuzzSource{cp, tile, bundle}, vkey, VerifyOptions{})
		if err == nil && res.Size != uint64(size) {
			t.Fatalf("verified size %d, checkpoint says %d", res.Size, size)
		}
		// An unsigned or mangled checkpoint never verifies.
		if _, err := Verify(ctx, fuzzSource{raw, tile, bundle}, vkey, VerifyOptions{}); err == nil && string(raw) != string(cp) {
			if _, _, oerr := openCheckpoint(ctx, raw, mustVerifier(t, vkey)); oerr != nil {
				t.Fatalf("Verify accepted a checkpoint that does not open: %q", raw)
			}
		}
	})
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
