//go:build !linux

package pgcluster

import "syscall"

// setParentDeathSignal is a no-op: only Linux offers a parent death signal.
func setParentDeathSignal(attr *syscall.SysProcAttr, sig syscall.Signal) {}
