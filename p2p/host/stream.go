package host

import (
	"time"

	"github.com/hashicorp/yamux"

	"github.com/relayd/relayd/p2p/transport"
)

// MuxedStream is what a stream muxer gives us: a yamux stream or a QUIC
// stream. Close half-closes our write side (the peer may still send);
// Reset abandons the stream in both directions.
type MuxedStream = transport.Stream

// Stream is a negotiated stream on a connection.
type Stream struct {
	MuxedStream
	conn     *Conn
	protocol string
}

// Conn is the connection the stream belongs to.
func (s *Stream) Conn() *Conn { return s.conn }

// Protocol is the protocol ID negotiated on the stream.
func (s *Stream) Protocol() string { return s.protocol }

// yamuxStream adapts a hashicorp/yamux stream. That library exposes no
// stream reset, so Reset is a half-close that also forbids further I/O on our
// side; the session's StreamCloseTimeout sends the RST if the peer lingers.
type yamuxStream struct {
	*yamux.Stream
}

func (s yamuxStream) Reset() error {
	past := time.Unix(1, 0)
	_ = s.Stream.SetDeadline(past)
	return s.Stream.Close()
}
