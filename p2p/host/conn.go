package host

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
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

	inflight atomic.Int32 // inbound streams being negotiated or handled

	acc acceptState // on-demand stream acceptance (yamux)
}

// acceptState is how a yamux connection's inbound streams are accepted
// without a goroutine parked in AcceptStream for the connection's whole
// life: one per idle connection cost 4 KiB of stack and a g, a sixth of an
// idle reservation's memory. The link (frameCoalescer) sees each SYN go to
// yamux and starts an acceptStreams goroutine if none runs; that goroutine
// ends when every stream announced so far has been accepted. The link
// also reports the session's end, which removes the connection (what the
// goroutine did when AcceptStream failed).
type acceptState struct {
	mu       sync.Mutex
	onDemand bool // a yamux session (set before run; read by run only)
	started  bool // run recorded the connection: goroutines may start
	running  bool // an acceptStreams goroutine exists
	pending  int  // SYNs handed to yamux minus streams accepted
	closed   bool // the session ended
	removed  bool // its removal has begun
}

// debug logs msg with the connection's peer and address. They are
// formatted only when debug logging is on: a logger carrying them, made per
// connection, held a few hundred bytes for each idle one.
func (c *Conn) debug(msg string, args ...any) {
	log := c.h.log
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	log.With("peer", c.remotePeer.String(), "remote", c.remote.String()).Debug(msg, args...)
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
	if y, ok := c.mux.(*yamuxConn); ok {
		return y.NumStreams(), true
	}
	return 0, false
}

// Parked reports whether the connection is parked: idle, its yamux
// session shut down until a stream needs it (see Config.ParkIdle).
func (c *Conn) Parked() bool {
	y, ok := c.mux.(*yamuxConn)
	if !ok {
		return false
	}
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.state == parked
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
// goroutine that owns a connection whose muxer cannot report new streams
// (QUIC); yamux connections are served on demand instead (acceptState).
func (c *Conn) serve() {
	defer c.h.removeConn(c)
	for {
		ms, err := c.mux.AcceptStream()
		if err != nil {
			return
		}
		c.serveStream(ms, true)
	}
}

// serveStream runs the handler of ms, on a worker (goTask) if spawn,
// unless the connection already has MaxStreamsPerConn streams in flight.
func (c *Conn) serveStream(ms MuxedStream, spawn bool) {
	if int(c.inflight.Add(1)) > c.h.cfg.MaxStreamsPerConn {
		c.inflight.Add(-1)
		c.debug("too many streams, resetting new one")
		ms.Reset()
		return
	}
	handle := func() {
		defer c.inflight.Add(-1)
		c.h.handleStream(c, ms)
	}
	if !spawn {
		handle()
		return
	}
	if !c.h.goTask(handle) {
		c.inflight.Add(-1)
		ms.Reset()
	}
}

// startOnDemand is run's part for a yamux connection: streams announced
// before it, and a session that ended before it, are dealt with now.
func (c *Conn) startOnDemand() {
	c.acc.mu.Lock()
	c.acc.started = true
	accept := c.acc.pending > 0 && !c.acc.closed
	c.acc.running = accept
	remove := c.acc.closed && !c.acc.removed
	c.acc.removed = c.acc.removed || remove
	c.acc.mu.Unlock()
	if remove {
		c.startRemoval()
	}
	if accept {
		c.startAcceptor()
	}
}

func (c *Conn) streamOpening() {
	c.acc.mu.Lock()
	c.acc.pending++
	start := c.acc.started && !c.acc.running && !c.acc.closed
	c.acc.running = c.acc.running || start
	c.acc.mu.Unlock()
	if start {
		c.startAcceptor()
	}
}

func (c *Conn) linkClosed() {
	c.acc.mu.Lock()
	c.acc.closed = true
	remove := c.acc.started && !c.acc.removed
	c.acc.removed = c.acc.removed || remove
	c.acc.mu.Unlock()
	if remove {
		c.startRemoval()
	}
}

func (c *Conn) parkChanged(parked bool) {
	c.h.cfg.Tracer.ConnParked(parked)
	if parked {
		c.debug("connection parked")
	} else {
		c.debug("connection unparked")
	}
}

// startAcceptor starts acceptStreams. Once the host is closing it does
// not: Close closes the connection, streams and all.
func (c *Conn) startAcceptor() {
	if !c.h.goTask(c.acceptStreams) {
		c.acc.mu.Lock()
		c.acc.running = false
		c.acc.mu.Unlock()
	}
}

// startRemoval removes the ended connection in a goroutine Close waits
// for, or, once the host is closing, right here: in yamux's Close, called
// by the host's Close or by the session's own receive loop, never under
// a lock of the host's.
func (c *Conn) startRemoval() {
	if !c.h.goTracked(func() { c.h.removeConn(c) }) {
		c.h.forgetConn(c)
	}
}

// acceptStreams accepts streams until every SYN seen so far has its
// stream, and serves the last one itself. A SYN that yamux refused (its
// accept backlog full) leaves pending above the streams to come; this
// goroutine then waits in AcceptStream for the next one, as a per-
// connection loop always did, and ends with the session.
//
// AcceptStream fails either because the session ended or because yamux
// took a stream from its backlog and could not send its window update;
// the second consumed an announced stream like a success does.
func (c *Conn) acceptStreams() {
	for {
		ms, err := c.mux.AcceptStream()
		ended := err != nil && isClosed(c.mux.Done())
		c.acc.mu.Lock()
		if !ended {
			c.acc.pending = max(c.acc.pending-1, 0)
		}
		last := ended || c.acc.pending == 0
		c.acc.running = !last
		c.acc.mu.Unlock()
		if err == nil {
			c.serveStream(ms, !last)
		}
		if last {
			return
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
