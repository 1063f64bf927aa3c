//go:build !linux

package translog

import "os"

func fdatasync(f *os.File) error { return f.Sync() }
