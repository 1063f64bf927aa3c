//go:build unix && !linux

package gateway

import "syscall"

// peerClosed says whether the peer has closed the connection: a peek (which
// consumes nothing) that finds the end of the stream, without waiting.
func peerClosed(rc syscall.RawConn) bool {
	closed := false
	rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil
		return true // never wait for readiness
	})
	return closed
}
