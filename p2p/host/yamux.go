package host

import (
	"context"
	"log/slog"
	"time"

	"github.com/hashicorp/yamux"
)

// YamuxID is the multistream protocol ID of yamux.
const YamuxID = "/yamux/1.0.0"

// yamuxConfig returns the session configuration described in doc.go.
func yamuxConfig(logger *slog.Logger) *yamux.Config {
	c := yamux.DefaultConfig()
	c.AcceptBacklog = 16
	c.EnableKeepAlive = false
	c.ConnectionWriteTimeout = 10 * time.Second
	// The smallest v0.1.2 accepts (its initial window). A relayed stream
	// whose reader is slow makes the relay buffer up to a window, and a
	// 1 MiB window did not move one-circuit throughput on loopback.
	c.MaxStreamWindowSize = 256 << 10
	c.StreamOpenTimeout = 30 * time.Second
	c.StreamCloseTimeout = 10 * time.Second
	c.LogOutput = nil
	c.Logger = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
	return c
}

// yamuxSession is one yamux session of a yamuxConn (park.go). link is the
// byte path under it, through which streams are reset.
type yamuxSession struct {
	*yamux.Session
	link *frameCoalescer
}

func (s yamuxSession) OpenStream(ctx context.Context) (MuxedStream, error) {
	// yamux's OpenStream does not take a context; it blocks only while the
	// peer's ACK backlog is full, which StreamOpenTimeout bounds.
	st, err := s.Session.OpenStream()
	if err != nil {
		return nil, err
	}
	ys := &yamuxStream{Stream: st, link: s.link}
	if err := ctx.Err(); err != nil {
		ys.Reset()
		return nil, err
	}
	return ys, nil
}

func (s yamuxSession) AcceptStream() (MuxedStream, error) {
	st, err := s.Session.AcceptStream()
	if err != nil {
		return nil, err
	}
	return &yamuxStream{Stream: st, link: s.link}, nil
}

func (s yamuxSession) Done() <-chan struct{} { return s.Session.CloseChan() }
