package host

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/mss"
	"github.com/relayd/relayd/p2p/noise"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/proxyproto"
)

// ErrNoConnection is returned by NewStream when the peer is not connected:
// the host never dials to open a stream.
var ErrNoConnection = errors.New("no connection to peer")

// ErrClosed is returned once the host is closed.
var ErrClosed = fmt.Errorf("host closed: %w", net.ErrClosed)

// Handler serves one negotiated inbound stream. It owns the stream and must
// close or reset it before returning.
type Handler func(s *Stream)

// Config configures a Host. The zero value of every field but Key means the
// default written on it.
type Config struct {
	// Key is the host's Ed25519 identity key. Required.
	Key ed25519.PrivateKey
	// AgentVersion is sent in identify. Default "relayd/dev".
	AgentVersion string
	// Announce are the addresses identify and reservations advertise,
	// without /p2p/<id>. Default (empty): the bound listen addresses.
	Announce []ma.Multiaddr
	// HandshakeTimeout bounds multistream + Noise + yamux on a new
	// connection. Default 10 s.
	HandshakeTimeout time.Duration
	// StreamNegotiationTimeout bounds multistream-select on a new stream.
	// Default 10 s.
	StreamNegotiationTimeout time.Duration
	// MaxStreamsPerConn caps a connection's inbound streams in flight.
	// Default 64.
	MaxStreamsPerConn int
	// MaxHandshakes caps connection upgrades in flight per listener; more
	// connections are refused at once. Default 256.
	MaxHandshakes int
	// Transports listen and dial; the host owns them and closes them in
	// Close. Default: TCP, QUIC and WebSocket (/ws; /wss needs a
	// ws.Config.TLSConfig to listen), see DefaultTransports.
	Transports []transport.Transport
	// ConnLimits cap inbound connections in total and per IP (see
	// ConnLimits for the defaults).
	ConnLimits ConnLimits
	// ProxyProtocol accepts a PROXY protocol header on TCP and WebSocket
	// connections from its Trusted sources, so a client behind a load
	// balancer is seen (quotas, identify's observedAddr) at its own
	// address. Default: off.
	ProxyProtocol proxyproto.Config
	// ParkIdle is how long a TCP connection, or an accepted WebSocket
	// (transport.ReadResumer), may go without a stream and without a frame
	// either way before its yamux session is shut down until either side
	// needs it again (park.go): an idle reservation then costs one
	// goroutine and no yamux state. Default 2 s; negative: never.
	ParkIdle time.Duration
	// ReleaseAfter is how many connections, new or parked, make a burst
	// after which the host hands the memory they freed back to the OS
	// (release.go): once they are also an eighth of the connections held
	// and a second has passed without another. Default 512; negative:
	// never, leaving it to the Go runtime's scavenger.
	ReleaseAfter int
	// Logger receives the host's logs. Default: discard.
	Logger *slog.Logger
	// Tracer receives connection events (metrics). Default: NopTracer.
	Tracer Tracer
}

func (c Config) withDefaults() Config {
	if c.AgentVersion == "" {
		c.AgentVersion = "relayd/dev"
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.StreamNegotiationTimeout <= 0 {
		c.StreamNegotiationTimeout = 10 * time.Second
	}
	if c.MaxStreamsPerConn <= 0 {
		c.MaxStreamsPerConn = 64
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = 256
	}
	if c.ParkIdle == 0 {
		c.ParkIdle = 2 * time.Second
	}
	if c.ReleaseAfter == 0 {
		c.ReleaseAfter = releaseAfter
	}
	if c.ProxyProtocol.Timeout <= 0 {
		c.ProxyProtocol.Timeout = c.HandshakeTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Tracer == nil {
		c.Tracer = NopTracer{}
	}
	return c
}

// Host is a libp2p host: listeners, connections and stream handlers.
type Host struct {
	cfg        Config
	id         identity.PeerID
	ctx        context.Context // cancelled by Close: aborts handshakes
	cancel     context.CancelFunc
	log        *slog.Logger
	noise      *noise.Identity // this host's side of every Noise handshake
	transports []transport.Transport
	adm        *admission
	yamux      *yamux.Config // every session's, read-only

	mu           sync.Mutex
	handlers     map[string]Handler
	conns        map[identity.PeerID][]*Conn
	listeners    []*listener
	onDisconnect []func(identity.PeerID)
	identifyMsg  []byte         // cached identify response minus observedAddr
	addrs        []ma.Multiaddr // cached Addrs() without Announce
	extraAddrs   []ma.Multiaddr // SetExtraAddrs
	closed       bool

	watch connWatch // OnConnected callbacks and WaitConn waiters (watch.go)

	workers    workerPool   // idle goroutines for goTask (workers.go)
	sweeper    sync.Once    // starts parkSweeper with the first parkable connection
	connEvents atomic.Int64 // connections added or parked so far (release.go)
	releasing  bool         // the releaser runs (under mu)
	release    releasePolicy
	releases   atomic.Int64 // memory releases so far, for tests
	nconns     int          // connections in conns (under mu)

	wg sync.WaitGroup
}

// New builds a host. It starts nothing; call Listen, then Serve.
func New(cfg Config) (*Host, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("host: Config.Key must be an Ed25519 private key")
	}
	cfg = cfg.withDefaults()
	transports := cfg.Transports
	if transports == nil {
		var err error
		if transports, err = DefaultTransports(cfg.Key); err != nil {
			return nil, err
		}
	}
	nid, err := noise.NewIdentity(cfg.Key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{
		noise:      nid,
		ctx:        ctx,
		cancel:     cancel,
		cfg:        cfg,
		id:         identity.PeerIDOf(cfg.Key),
		log:        cfg.Logger,
		transports: transports,
		adm:        newAdmission(cfg.ConnLimits),
		yamux:      yamuxConfig(cfg.Logger),
		handlers:   make(map[string]Handler),
		conns:      make(map[identity.PeerID][]*Conn),
		release:    releasePolicy{after: int64(cfg.ReleaseAfter), quiet: releaseQuiet},
	}
	h.Handle(IdentifyID, h.handleIdentify)
	h.Handle(IdentifyPushID, handleIdentifyPush)
	h.Handle(PingID, handlePing)
	return h, nil
}

// ID is the host's peer ID.
func (h *Host) ID() identity.PeerID { return h.id }

// Handle registers fn for inbound streams that negotiate proto.
func (h *Host) Handle(proto string, fn Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handlers[proto] = fn
	h.identifyMsg = nil
}

// Protocols lists the registered protocols, sorted.
func (h *Host) Protocols() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.handlers))
	for p := range h.handlers {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// OnPeerDisconnected registers fn to run when a peer's last connection
// closes. Register before Serve.
func (h *Host) OnPeerDisconnected(fn func(identity.PeerID)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onDisconnect = append(h.onDisconnect, fn)
}

// Addrs are the addresses the host advertises: Config.Announce, or else
// the bound listen addresses with 0.0.0.0 and :: expanded to the machine's
// interface addresses (a wildcard address is useless to a peer), followed
// by those of SetExtraAddrs.
func (h *Host) Addrs() []ma.Multiaddr {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.baseAddrs()
	for _, a := range h.extraAddrs {
		if !ma.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// SetExtraAddrs replaces the addresses advertised in addition to Announce
// or the listen addresses: ones that appear while running, such as a
// /wss name once its certificate exists. Identify sends them from the next
// request on.
func (h *Host) SetExtraAddrs(addrs []ma.Multiaddr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.extraAddrs = slices.Clone(addrs)
	h.identifyMsg = nil
}

// baseAddrs is Addrs without the extra addresses; h.mu is held.
func (h *Host) baseAddrs() []ma.Multiaddr {
	if len(h.cfg.Announce) > 0 {
		return slices.Clone(h.cfg.Announce)
	}
	if h.addrs == nil {
		ls := make([]ma.Multiaddr, len(h.listeners))
		for i, l := range h.listeners {
			ls[i] = l.Multiaddr()
		}
		// Resolved once per listener change: interface lookups are
		// syscalls, and every RESERVE asks.
		var err error
		if h.addrs, err = manet.ResolveUnspecifiedAddresses(ls, nil); err != nil {
			h.addrs = ls
		}
	}
	return slices.Clone(h.addrs)
}

// Serve accepts connections on every listener until ctx is done or the
// host is closed, then stops accepting (established connections stay up
// until Close) and returns.
func (h *Host) Serve(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	ls := slices.Clone(h.listeners)
	h.mu.Unlock()
	var accepting sync.WaitGroup
	for _, l := range ls {
		accepting.Go(func() { h.acceptLoop(l) })
	}
	<-ctx.Done()
	h.StopAccepting()
	accepting.Wait()
	return nil
}

// StopAccepting closes the listeners; established connections stay up.
func (h *Host) StopAccepting() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.listeners {
		l.Close()
	}
}

// Close stops accepting, closes every connection and waits for every
// goroutine the host started.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	var conns []*Conn
	for _, cs := range h.conns {
		conns = append(conns, cs...)
	}
	h.mu.Unlock()
	h.cancel()
	h.StopAccepting()
	for _, c := range conns {
		c.Close()
	}
	h.wg.Wait()
	for _, t := range h.transports {
		t.Close()
	}
	return nil
}

// goTracked runs fn in a goroutine Close waits for; false (fn not run) once
// Close has begun. The add happens under mu, after checking closed, so
// every wg.Add happens before Close's wg.Wait, as circuit's track does.
func (h *Host) goTracked(fn func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Go(fn)
	return true
}

// isClosed: Close has begun.
func (h *Host) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// addConn records c; false if the host is closed.
func (h *Host) addConn(c *Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.conns[c.remotePeer] = append(h.conns[c.remotePeer], c)
	h.nconns++
	h.connEvent()
	if !h.releasing && h.release.after > 0 {
		h.releasing = true
		h.wg.Go(h.releaser)
	}
	return true
}

func (h *Host) removeConn(c *Conn) {
	c.Close()
	h.forgetConn(c)
}

// forgetConn is removeConn for a connection already closed.
func (h *Host) forgetConn(c *Conn) {
	c.debug("connection closed")
	h.cfg.Tracer.ConnClosed(c.transport, c.inbound)
	h.mu.Lock()
	n := len(h.conns[c.remotePeer])
	cs := slices.DeleteFunc(h.conns[c.remotePeer], func(x *Conn) bool { return x == c })
	h.nconns -= n - len(cs)
	last := len(cs) == 0
	if last {
		delete(h.conns, c.remotePeer)
	} else {
		h.conns[c.remotePeer] = cs
	}
	fns := slices.Clone(h.onDisconnect)
	h.mu.Unlock()
	if last {
		for _, fn := range fns {
			fn(c.remotePeer)
		}
	}
}

// ConnsToPeer returns the live connections to p, newest last.
func (h *Host) ConnsToPeer(p identity.PeerID) []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.conns[p])
}

// NumPeers is the number of connected peers.
func (h *Host) NumPeers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// NewStream opens a stream for proto on the newest existing connection to
// p. It never dials: ErrNoConnection if p is not connected.
func (h *Host) NewStream(ctx context.Context, p identity.PeerID, proto string) (*Stream, error) {
	cs := h.ConnsToPeer(p)
	if len(cs) == 0 {
		return nil, fmt.Errorf("new stream to %s: %w", p, ErrNoConnection)
	}
	return cs[len(cs)-1].NewStream(ctx, proto)
}

// NewStreamPipelined is Conn.NewStreamPipelined on the connection
// NewStream would use.
func (h *Host) NewStreamPipelined(ctx context.Context, p identity.PeerID, proto string, first []byte) (*Stream, error) {
	cs := h.ConnsToPeer(p)
	if len(cs) == 0 {
		return nil, fmt.Errorf("new stream to %s: %w", p, ErrNoConnection)
	}
	return cs[len(cs)-1].NewStreamPipelined(ctx, proto, first)
}

func (h *Host) handler(proto string) (Handler, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fn, ok := h.handlers[proto]
	return fn, ok
}

func (h *Host) handleStream(c *Conn, ms MuxedStream) {
	deadline := time.Now().Add(h.cfg.StreamNegotiationTimeout)
	ms.SetDeadline(deadline)
	proto, err := mss.NegotiateBuffered(ms, func(p string) bool { _, ok := h.handler(p); return ok }, deadline)
	if err != nil {
		c.debug("stream negotiation failed", "err", err)
		ms.Reset()
		return
	}
	ms.SetDeadline(time.Time{})
	fn, _ := h.handler(proto)
	fn(&Stream{MuxedStream: ms, conn: c, protocol: proto})
}
