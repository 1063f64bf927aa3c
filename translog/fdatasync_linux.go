package translog

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (and the metadata needed to read it back):
// cheaper than fsync for an append-only file.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
