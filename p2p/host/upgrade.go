package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/mss"
	"github.com/relayd/relayd/p2p/noise"
	"github.com/relayd/relayd/p2p/transport"
)

var muxers = []string{YamuxID}

// HandshakeError says which stage of a connection upgrade failed.
type HandshakeError struct {
	Stage string // security_negotiation, noise, muxer_negotiation, muxer, timeout
	Err   error
}

func (e *HandshakeError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *HandshakeError) Unwrap() error { return e.Err }

func stageErr(stage string, err error) error { return &HandshakeError{Stage: stage, Err: err} }

// upgradeInbound runs multistream → Noise → (multistream) → yamux as the
// responder, bounded by HandshakeTimeout and by the host's lifetime.
func (h *Host) upgradeInbound(raw transport.RawConn, label string) (*Conn, error) {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.HandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	raw.SetDeadline(time.Now().Add(h.cfg.HandshakeTimeout))

	if _, err := mss.Negotiate(raw, func(p string) bool { return p == noise.ID }); err != nil {
		return nil, stageErr("security_negotiation", err)
	}
	sc, err := h.noise.Server(ctx, raw, muxers)
	if err != nil {
		return nil, stageErr("noise", err)
	}
	raw.SetDeadline(time.Now().Add(h.cfg.HandshakeTimeout))
	if sc.Muxer() == "" {
		if _, err := mss.Negotiate(sc, func(p string) bool { return p == YamuxID }); err != nil {
			return nil, stageErr("muxer_negotiation", err)
		}
	}
	if !stop() {
		return nil, stageErr("timeout", ctx.Err())
	}
	raw.SetDeadline(time.Time{})
	c := &Conn{}
	sess, err := h.newYamuxConn(sc, true, c, raw, label)
	if err != nil {
		return nil, stageErr("muxer", err)
	}
	return h.initConn(c, sess, raw, sc, label, true), nil
}

// upgradeOutbound is upgradeInbound's initiator side. An empty p accepts
// any peer.
func (h *Host) upgradeOutbound(ctx context.Context, raw transport.RawConn, p identity.PeerID, label string) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.HandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := mss.SelectOneOf(raw, noise.ID); err != nil {
		return nil, stageErr("security_negotiation", err)
	}
	sc, err := h.noise.Client(ctx, raw, p, muxers)
	if err != nil {
		return nil, stageErr("noise", err)
	}
	if sc.Muxer() == "" {
		if _, err := mss.SelectOneOf(sc, YamuxID); err != nil {
			return nil, stageErr("muxer_negotiation", err)
		}
	}
	if !stop() {
		return nil, stageErr("timeout", ctx.Err())
	}
	raw.SetDeadline(time.Time{})
	c := &Conn{}
	sess, err := h.newYamuxConn(sc, false, c, raw, label)
	if err != nil {
		return nil, stageErr("muxer", err)
	}
	return h.initConn(c, sess, raw, sc, label, false), nil
}

// endpoints are a connection's two addresses.
type endpoints interface {
	LocalMultiaddr() ma.Multiaddr
	RemoteMultiaddr() ma.Multiaddr
}

// authenticated names the peer a handshake proved.
type authenticated interface {
	RemotePeer() identity.PeerID
	RemotePublicKey() identity.PublicKey
}

// newConn makes the Conn of a muxer that serves its streams only through
// AcceptStream (QUIC): a goroutine per connection waits there.
func (h *Host) newConn(mux muxedConn, ends endpoints, auth authenticated, label string, inbound bool) *Conn {
	return h.initConn(&Conn{}, mux, ends, auth, label, inbound)
}

// initConn fills in c. A yamux session's c was already handed to its link
// as linkEvents: its streams are accepted on demand (Conn.acceptStreams).
// The session is running, so the link may already have called c, which
// touches only c.acc until run sets acc.started under acc.mu.
func (h *Host) initConn(c *Conn, mux muxedConn, ends endpoints, auth authenticated, label string, inbound bool) *Conn {
	c.h = h
	c.mux = mux
	c.remotePeer = auth.RemotePeer()
	c.remoteKey = auth.RemotePublicKey()
	c.local = ends.LocalMultiaddr()
	c.remote = ends.RemoteMultiaddr()
	c.transport = label
	c.inbound = inbound
	c.opened = time.Now()
	_, c.acc.onDemand = mux.(*yamuxConn)
	return c
}

// Dial connects to the peer p at addr (without /p2p) over the transport
// that handles it, and upgrades the connection if the transport did not.
// An empty p accepts whichever peer answers. The connection is served
// like an inbound one: the peer may open streams.
func (h *Host) Dial(ctx context.Context, addr ma.Multiaddr, p identity.PeerID) (*Conn, error) {
	start := time.Now()
	tc, err := h.dialTransport(ctx, addr, p)
	if err != nil {
		return nil, err
	}
	c, err := h.secureOutbound(ctx, tc, p, transport.Label(addr))
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if err := h.run(c, start); err != nil {
		return nil, err
	}
	return c, nil
}

// dialTransport dials addr over the transport that handles it, unless the
// host is closed: a dial that started anyway would fail only after its
// handshake, with whatever error the peer gave.
func (h *Host) dialTransport(ctx context.Context, addr ma.Multiaddr, p identity.PeerID) (transport.Conn, error) {
	if h.isClosed() {
		return nil, fmt.Errorf("dial %s: %w", addr, ErrClosed)
	}
	t, err := h.transportFor(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	tc, err := t.Dial(ctx, addr, p)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return tc, nil
}

// secureOutbound upgrades a raw dialed connection; a secure one only has
// its peer checked again.
func (h *Host) secureOutbound(ctx context.Context, tc transport.Conn, p identity.PeerID, label string) (*Conn, error) {
	switch c := tc.(type) {
	case transport.SecureConn:
		if p != "" && c.RemotePeer() != p {
			return nil, fmt.Errorf("transport authenticated %s, want %s", c.RemotePeer(), p)
		}
		return h.newConn(c, c, c, label, false), nil
	case transport.RawConn:
		return h.upgradeOutbound(ctx, c, p, label)
	}
	return nil, errors.New("transport returned an unknown connection type")
}

var _ net.Conn = (*noise.Conn)(nil)
