package pgcluster

import "syscall"

// setParentDeathSignal asks the kernel to send sig to the child when the
// thread that started it exits, so that our death does not orphan it.
func setParentDeathSignal(attr *syscall.SysProcAttr, sig syscall.Signal) {
	attr.Pdeathsig = sig
}
