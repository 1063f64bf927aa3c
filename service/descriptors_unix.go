//go:build unix

package service

import "syscall"

// descriptorLimit is the process's open-file limit (RLIMIT_NOFILE's soft
// limit, which the Go runtime raises to the hard limit at start).
func descriptorLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return noLimit
	}
	return uint64(l.Cur)
}
