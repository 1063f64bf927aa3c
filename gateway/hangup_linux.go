package gateway

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// TCP states (include/net/tcp_states.h) in which the peer has closed or
// reset its end: a FIN received (CLOSE_WAIT, and LAST_ACK once we close
// too), or a reset (CLOSE).
const (
	tcpClose     = 7
	tcpCloseWait = 8
	tcpLastAck   = 9
)

// peerClosed says whether the peer has closed the connection, from the
// kernel's TCP state: unlike a peek at the data, this sees a FIN behind
// unread bytes, such as a TLS client's close_notify.
func peerClosed(rc syscall.RawConn) bool {
	closed := false
	rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil {
			switch info.State {
			case tcpClose, tcpCloseWait, tcpLastAck:
				closed = true
			}
		}
	})
	return closed
}
