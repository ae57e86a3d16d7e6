package host

import (
	"encoding/binary"
	"net"

	"github.com/relayd/relayd/p2p/noise"
)

const (
	yamuxHeaderSize = 12
	yamuxTypeData   = 0
)

// frameCoalescer sits between yamux and Noise. hashicorp/yamux writes a
// data frame's 12-byte header and its body in two Write calls, which over
// Noise would cost two frames, two seals and two syscalls per data frame.
// The header says whether a body follows (type Data, length > 0), so such a
// header is held and sent with the body in one Noise frame. Only yamux's
// send loop writes here, so no lock is needed; every held header is
// followed by its body in the very next Write.
type frameCoalescer struct {
	*noise.Conn
	hdr  [yamuxHeaderSize]byte
	held bool
}

func (c *frameCoalescer) Write(p []byte) (int, error) {
	if c.held {
		c.held = false
		return c.Conn.WriteWithHeader(c.hdr[:], p)
	}
	if len(p) == yamuxHeaderSize && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:]) > 0 {
		copy(c.hdr[:], p)
		c.held = true
		return len(p), nil
	}
	return c.Conn.Write(p)
}

var _ net.Conn = (*frameCoalescer)(nil)

// CoalesceYamux wraps a Noise connection that carries a hashicorp/yamux
// session (as the fleet mesh's links do) so each yamux data frame travels
// in one Noise frame; see frameCoalescer.
func CoalesceYamux(c *noise.Conn) net.Conn { return &frameCoalescer{Conn: c} }
