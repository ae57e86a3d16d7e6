package host

import (
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/relayd/relayd/p2p/transport"
)

// ErrStreamReset is what Read and Write return on a yamux stream after
// Reset (the peer's own reset shows as yamux.ErrConnectionReset).
var ErrStreamReset = errors.New("stream reset")

// MuxedStream is what a stream muxer gives us: a yamux stream or a QUIC
// stream. Close half-closes our write side (the peer may still send);
// CloseRead stops reading; Reset abandons the stream in both directions.
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

// yamuxStream adapts a hashicorp/yamux stream. Reset is real (an RST frame
// both to the peer and to our own session, see frameCoalescer.resetStream);
// CloseRead, which yamux cannot tell the peer, ends in a Reset once our
// write side is closed too (see doc.go).
type yamuxStream struct {
	*yamux.Stream
	link *frameCoalescer

	mu          sync.Mutex
	reset       bool
	writeClosed bool
	readClosed  bool
}

func (s *yamuxStream) isReset() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reset
}

func (s *yamuxStream) Read(p []byte) (int, error) {
	if s.isReset() {
		return 0, ErrStreamReset
	}
	n, err := s.Stream.Read(p)
	if err != nil && s.isReset() {
		return 0, ErrStreamReset
	}
	return n, err
}

func (s *yamuxStream) Write(p []byte) (int, error) {
	if s.isReset() {
		return 0, ErrStreamReset
	}
	n, err := s.Stream.Write(p)
	if err != nil && s.isReset() {
		err = ErrStreamReset
	}
	return n, err
}

// Close half-closes our write side with a FIN, unless our read side was
// abandoned (CloseRead): then the stream is reset, the only way yamux has to
// tell the peer to stop sending.
func (s *yamuxStream) Close() error {
	s.mu.Lock()
	if s.reset || s.writeClosed {
		s.mu.Unlock()
		return nil
	}
	if s.readClosed {
		s.mu.Unlock()
		return s.Reset()
	}
	s.writeClosed = true
	s.mu.Unlock()
	return s.Stream.Close()
}

// CloseRead stops reading. yamux has no STOP_SENDING: if our write side is
// already closed the stream is reset now, so the peer's writes fail at
// once; otherwise the reset comes with Close, and until then the peer may
// fill its window and block.
func (s *yamuxStream) CloseRead() error {
	s.mu.Lock()
	if s.reset || s.readClosed {
		s.mu.Unlock()
		return nil
	}
	s.readClosed = true
	wc := s.writeClosed
	s.mu.Unlock()
	if wc {
		return s.Reset()
	}
	return nil
}

// Reset sends the peer an RST for the stream at once and makes our session
// drop the stream (see frameCoalescer.resetStream). Local Read and Write
// fail with ErrStreamReset from now on.
func (s *yamuxStream) Reset() error {
	s.mu.Lock()
	if s.reset {
		s.mu.Unlock()
		return nil
	}
	s.reset = true
	s.mu.Unlock()
	// The RST is queued (and usually written) first, so that whoever
	// wakes from the deadline below and closes the connection (a host
	// shutting down) finds it already on its way.
	s.link.resetStream(s.Stream.StreamID())
	// Wakes a blocked Read or Write now; the injected RST, which frees the
	// session's state, arrives within a round trip.
	_ = s.Stream.SetDeadline(time.Unix(1, 0))
	return nil
}
