package host

import (
	"io"
	"time"
)

const (
	pingSize = 32
	// pingIdle closes a ping stream that has been silent this long; go-libp2p
	// pings every 15 s or so on a kept stream.
	pingIdle = time.Minute
	// maxPings bounds the work one ping stream can ask of us.
	maxPings = 1 << 16
)

// handlePing echoes 32-byte pings until the peer closes the stream.
func handlePing(s *Stream) {
	defer s.Close()
	var buf [pingSize]byte
	for range maxPings {
		s.SetDeadline(time.Now().Add(pingIdle))
		if _, err := io.ReadFull(s, buf[:]); err != nil {
			return
		}
		if _, err := s.Write(buf[:]); err != nil {
			s.Reset()
			return
		}
	}
}
