package service

import (
	"fmt"
	"math"
)

// maxConsoleConns bounds the console's connections open at once; more wait
// to be accepted. With max_sessions it bounds the file descriptors clients
// can make the process hold.
const maxConsoleConns = 256

// otherDescriptors is a generous count of what the process holds besides
// sessions and console connections: the listeners, the database pools, the
// journal, Tessera's files while it writes a batch, the log output.
const otherDescriptors = 128

// checkDescriptors refuses a max_sessions that the open-file limit cannot
// hold: each session holds two descriptors (the client's connection and its
// backend's). Running out would fail more than new connections: Tessera
// panics when it cannot open its files (see
// translog.TestStorageOutOfFDsFailsClosed), which ends the process.
func checkDescriptors(maxSessions int, limit uint64) error {
	need := uint64(2*maxSessions + maxConsoleConns + otherDescriptors)
	if limit < need {
		return fmt.Errorf("max_sessions %d needs about %d file descriptors (2 per session, %d for the console, %d for the rest), but this process may open only %d: raise the limit (ulimit -n, or LimitNOFILE= in a systemd unit) or lower max_sessions",
			maxSessions, need, maxConsoleConns, otherDescriptors, limit)
	}
	return nil
}

// noLimit is descriptorLimit where the system sets none custodes can read.
const noLimit = math.MaxUint64
