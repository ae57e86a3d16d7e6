//go:build unix && !aix

package ws

import "syscall"

// peekReadable is a syscall.RawConn.Read callback: true once the socket
// has a byte, an end or an error to report (the read that follows reports
// it), false while a peek finds nothing yet, which makes Read wait for the
// poller.
func peekReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
