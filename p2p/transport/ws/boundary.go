package ws

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// A read deadline is how the host wakes a connection's reader to park it
// (p2p/host park.go), and gorilla treats any read error as final. So on
// the server side gorilla reads through a boundaryConn, which follows the
// peer's frames as their bytes pass and turns a deadline that passes
// between two messages into a synthetic empty binary message (an
// "interruption") that gorilla parses like any other; Conn.Read reports
// it as a timeout and gorilla stays usable.
//
// A deadline can only be honoured at a boundary. One that was already
// past when set (time.Unix(1, 0): "wake up now", as the host uses them)
// is held over while a frame or a fragmented message is under way: the
// earlier deadline is restored meanwhile, and the interruption comes at
// the next boundary. A deadline that was still ahead when set and runs
// out mid-frame breaks the connection, as it always did: the peer stalled
// mid-frame past a real time limit.

// interruption is an empty, final, binary frame, masked as a client's
// frames must be (the key is zero; there is no payload to mask).
var interruption = [...]byte{0x82, 0x80, 0, 0, 0, 0}

// boundaryConn is the connection under gorilla's reader. Read is only
// called by gorilla (under Conn.rmu); the deadline methods may be called
// from anywhere.
type boundaryConn struct {
	net.Conn
	// Touched only by Read, takeInterruption and waitReadable, which all
	// run under Conn.rmu: no lock of their own.
	scan frameScanner // what the peer has sent so far
	// drained: the last thing gorilla read was an interruption made of a
	// read that timed out, which Conn has seen, and no byte of the peer's
	// came since. gorilla's buffer is then empty, and so is the TLS
	// connection's: a TLS read times out only with no whole record left
	// (an interruption from a held-over wake-up may leave one there).
	drained      bool
	lastTimedOut bool // the interruption being handed over came from a timeout

	mu       sync.Mutex
	wake     bool      // the read deadline was already past when set
	deadline time.Time // the last read deadline set that was not a wake-up
	held     bool      // a wake-up passed mid-frame: interrupt at the next boundary
	pending  []byte    // interruption bytes gorilla has not taken yet
	injected int       // interruptions handed to gorilla, not yet seen by Conn
}

func (b *boundaryConn) Read(p []byte) (int, error) {
	if n, ok := b.interrupt(p, false); ok {
		return n, nil
	}
	for {
		n, err := b.Conn.Read(p)
		timedOut := err != nil && isTimeout(err)
		if n > 0 {
			b.scan.scan(p[:n])
			b.drained = false
			if timedOut {
				err = nil // the next read reports it, at a boundary or not
			}
			return n, err
		}
		if !timedOut {
			return 0, err
		}
		if n, ok := b.interrupt(p, true); ok {
			return n, nil
		}
		if !b.holdOver() {
			return 0, err
		}
	}
}

// interrupt hands gorilla (the rest of) an interruption if one is due: a
// deadline passed (timedOut) or was held over, and the peer's byte stream
// is between messages.
func (b *boundaryConn) interrupt(p []byte, timedOut bool) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		if !(timedOut || b.held) || !b.scan.betweenMessages() || len(p) == 0 {
			return 0, false
		}
		b.held = false
		b.injected++
		b.lastTimedOut = timedOut
		b.pending = interruption[:]
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, true
}

// holdOver: a deadline passed mid-frame. A wake-up is held over to the
// next boundary, with the earlier deadline in force meanwhile, and a
// deadline replaced since by a later one is forgotten (true: read on); a
// real deadline ends the read (false).
func (b *boundaryConn) holdOver() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.wake:
		b.wake, b.held = false, true
		b.Conn.SetReadDeadline(b.deadline)
		return true
	case b.deadline.IsZero() || b.deadline.After(time.Now()):
		return true
	}
	return false
}

// takeInterruption reports whether the message gorilla just returned is
// an interruption, consuming it.
func (b *boundaryConn) takeInterruption() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.injected == 0 || len(b.pending) > 0 {
		return false
	}
	b.injected--
	b.drained = b.lastTimedOut
	return true
}

// waitReadable waits, on a small stack, until the socket under the
// connection (under TLS, if any) has bytes or an end to read, or the read
// deadline passes. It only waits when nothing is buffered above the
// socket (drained); otherwise, or where the socket cannot be reached, it
// returns nil at once.
func (b *boundaryConn) waitReadable() error {
	if !b.drained {
		return nil
	}
	nc := b.Conn
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	// The peek, not only the poller's readiness, decides, so bytes that
	// arrived before the wait began are never waited past.
	return rc.Read(peekReadable)
}

func (b *boundaryConn) SetDeadline(t time.Time) error {
	b.setReadDeadline(t)
	return b.Conn.SetDeadline(t)
}

func (b *boundaryConn) SetReadDeadline(t time.Time) error {
	b.setReadDeadline(t)
	return b.Conn.SetReadDeadline(t)
}

// setReadDeadline records t; the latest deadline replaces any held-over
// wake-up.
func (b *boundaryConn) setReadDeadline(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held = false
	b.wake = !t.IsZero() && !t.After(time.Now())
	if !b.wake {
		b.deadline = t
	}
}

// isTimeout: err is a deadline's (os.ErrDeadlineExceeded is a net.Error
// whose Timeout is true).
func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// frameScanner follows WebSocket frame boundaries (RFC 6455 section 5.2)
// in a byte stream, without validating anything: gorilla does that on the
// same bytes. It keeps no payload and a constant amount of state.
type frameScanner struct {
	hdr  [14]byte // the current frame's header so far
	hdrN int      // bytes of hdr filled
	left uint64   // payload bytes of the current frame still to come
	frag bool     // a data frame without FIN was seen; the message goes on
}

func (s *frameScanner) scan(p []byte) {
	for len(p) > 0 {
		if s.left > 0 {
			n := uint64(len(p))
			if n > s.left {
				n = s.left
			}
			s.left -= n
			p = p[n:]
			continue
		}
		s.hdr[s.hdrN] = p[0]
		s.hdrN++
		p = p[1:]
		if s.hdrN == s.headerLen() {
			s.endHeader()
		}
	}
}

// headerLen is the length of the header being read, as far as its first
// two bytes tell (2 until they are in).
func (s *frameScanner) headerLen() int {
	if s.hdrN < 2 {
		return 2
	}
	n := 2
	switch s.hdr[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if s.hdr[1]&0x80 != 0 {
		n += 4
	}
	return n
}

func (s *frameScanner) endHeader() {
	var length uint64
	switch l := s.hdr[1] & 0x7f; l {
	case 126:
		length = uint64(s.hdr[2])<<8 | uint64(s.hdr[3])
	case 127:
		for _, c := range s.hdr[2:10] {
			length = length<<8 | uint64(c)
		}
	default:
		length = uint64(l)
	}
	if opcode := s.hdr[0] & 0x0f; opcode < 8 { // data or continuation; control frames interleave
		s.frag = s.hdr[0]&0x80 == 0
	}
	s.left, s.hdrN = length, 0
}

// betweenMessages: the bytes so far end a frame, and no fragmented
// message is under way.
func (s *frameScanner) betweenMessages() bool {
	return s.hdrN == 0 && s.left == 0 && !s.frag
}
