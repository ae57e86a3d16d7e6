package host

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/mss"
	"github.com/relayd/relayd/p2p/transport"
)

// muxedConn is an authenticated, multiplexed connection: a yamux session
// over Noise, or a QUIC connection.
type muxedConn = transport.Muxed

// Conn is an authenticated connection to one peer.
type Conn struct {
	h          *Host
	mux        muxedConn
	remotePeer identity.PeerID
	remoteKey  identity.PublicKey
	local      ma.Multiaddr
	remote     ma.Multiaddr
	transport  string
	inbound    bool
	relayed    bool // runs over a circuit (UpgradeRelayed)
	opened     time.Time
	log        *slog.Logger

	inflight atomic.Int32 // inbound streams being negotiated or handled
}

// RemotePeer is the authenticated peer ID of the other side.
func (c *Conn) RemotePeer() identity.PeerID { return c.remotePeer }

// RemotePublicKey is the other side's identity key.
func (c *Conn) RemotePublicKey() identity.PublicKey { return c.remoteKey }

// RemoteMultiaddr is the other side's address as this host sees it
// (identify's observedAddr).
func (c *Conn) RemoteMultiaddr() ma.Multiaddr { return c.remote }

// RemoteIP is the IP of RemoteMultiaddr, IPv4-mapped addresses unmapped;
// invalid when the address carries no IP.
func (c *Conn) RemoteIP() netip.Addr { return ipOf(c.remote) }

// LocalMultiaddr is this host's address on the connection.
func (c *Conn) LocalMultiaddr() ma.Multiaddr { return c.local }

// Transport names the transport: "tcp", "quic", "ws" or "wss".
func (c *Conn) Transport() string { return c.transport }

// Inbound reports whether the peer dialed us.
func (c *Conn) Inbound() bool { return c.inbound }

// Relayed reports whether the connection runs over a relayed circuit: one
// made by UpgradeRelayed. The host's listeners and Dial only make direct
// connections, so on a relay every connection answers false; circuit asks
// anyway to refuse RESERVE and CONNECT over relayed connections.
func (c *Conn) Relayed() bool { return c.relayed }

// Opened is when the connection finished its upgrade.
func (c *Conn) Opened() time.Time { return c.opened }

// NumStreams is how many streams the muxer holds state for, and whether it
// can tell: yamux can, QUIC (quic-go) cannot.
func (c *Conn) NumStreams() (int, bool) {
	if y, ok := c.mux.(yamuxSession); ok {
		return y.NumStreams(), true
	}
	return 0, false
}

// Close closes the connection and every stream on it.
func (c *Conn) Close() error { return c.mux.Close() }

// Done is closed when the connection is gone.
func (c *Conn) Done() <-chan struct{} { return c.mux.Done() }

// NewStream opens a stream and negotiates proto on it. The negotiation is
// bounded by ctx and by the host's StreamNegotiationTimeout.
func (c *Conn) NewStream(ctx context.Context, proto string) (*Stream, error) {
	return c.newStream(ctx, proto, func(ms MuxedStream) error {
		_, err := mss.SelectOneOf(ms, proto)
		return err
	})
}

// NewStreamPipelined is NewStream for a protocol the peer must support:
// first (the protocol's first message) goes out with the negotiation in one
// write, and the peer's answer is read afterwards (mss.SelectPipelined), so
// the negotiation costs no round trip of its own. A peer that refuses proto
// fails it as NewStream would.
func (c *Conn) NewStreamPipelined(ctx context.Context, proto string, first []byte) (*Stream, error) {
	return c.newStream(ctx, proto, func(ms MuxedStream) error {
		return mss.SelectPipelined(ms, proto, first)
	})
}

func (c *Conn) newStream(ctx context.Context, proto string, negotiate func(MuxedStream) error) (*Stream, error) {
	ms, err := c.mux.OpenStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("open stream to %s: %w", c.remotePeer, err)
	}
	deadline := time.Now().Add(c.h.cfg.StreamNegotiationTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ms.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { ms.SetDeadline(time.Unix(1, 0)) })
	err = negotiate(ms)
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		ms.Reset()
		return nil, fmt.Errorf("negotiate %s with %s: %w", proto, c.remotePeer, err)
	}
	ms.SetDeadline(time.Time{})
	return &Stream{MuxedStream: ms, conn: c, protocol: proto}, nil
}

// serve accepts the peer's streams until the connection ends. It is the
// goroutine that owns the connection.
func (c *Conn) serve() {
	defer c.h.removeConn(c)
	for {
		ms, err := c.mux.AcceptStream()
		if err != nil {
			c.log.Debug("connection closed", "err", err)
			return
		}
		if int(c.inflight.Add(1)) > c.h.cfg.MaxStreamsPerConn {
			c.inflight.Add(-1)
			c.log.Debug("too many streams, resetting new one")
			ms.Reset()
			continue
		}
		if !c.h.goTask(func() {
			defer c.inflight.Add(-1)
			c.h.handleStream(c, ms)
		}) {
			c.inflight.Add(-1)
			ms.Reset()
		}
	}
}
