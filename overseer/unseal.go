// Package overseer holds what an overseer does that needs more than the
// public log: opening the sealed detail behind an entry.
package overseer

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/seal"
	"github.com/custodes/custodes/translog"
)

// ErrMismatch means the stored detail does not match the entry.
var ErrMismatch = seal.ErrMismatch

// Unseal finds entry index in the deployment's verified log, fetches its
// sealed detail from the control database and opens it with identity (an
// age identity file's text), checking it against the entry's commitment.
func Unseal(ctx context.Context, cfg *config.Config, vkey string, index uint64, identity []byte) (*record.Entry, []byte, error) {
	// The entry comes from the verified public log, not from the operator's
	// say-so.
	src, err := translog.OpenSource(cfg.Path(cfg.Log.Dir))
	if err != nil {
		return nil, nil, err
	}
	var found *record.Entry
	_, err = translog.Verify(ctx, src, vkey, translog.VerifyOptions{Entry: func(i uint64, data []byte) error {
		if i == index {
			found, err = record.Parse(data)
			return err
		}
		return nil
	}})
	if err != nil {
		return nil, nil, fmt.Errorf("the log did not verify: %w", err)
	}
	if found == nil {
		return nil, nil, fmt.Errorf("the log has no entry %d (yet: checkpoints are published within seconds)", index)
	}
	if found.Detail == ([32]byte{}) {
		return found, nil, fmt.Errorf("entry %d (%s) has no sealed detail", index, found.Kind)
	}
	db, err := control.Open(ctx, cfg.Control.URL)
	if err != nil {
		return found, nil, err
	}
	defer db.Close()
	sealed, err := db.Detail(ctx, found.Detail)
	if errors.Is(err, control.ErrNotFound) {
		return found, nil, fmt.Errorf("the control database holds no detail for entry %d (commitment %x): it was removed", index, found.Detail)
	}
	if err != nil {
		return found, nil, err
	}
	plain, err := seal.Open(sealed, bytes.NewReader(identity), found.Detail)
	return found, plain, err
}
