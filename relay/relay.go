package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/fleet"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/mesh"
	"github.com/relayd/relayd/metrics"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport/proxyproto"
	"github.com/relayd/relayd/p2p/transport/ws"
	"github.com/relayd/relayd/reservation"
)

// Config configures a node. Zero values mean the defaults of the component
// each field is handed to.
type Config struct {
	// Key is the node's identity. Required.
	Key ed25519.PrivateKey
	// Listen are the addresses to bind, on any transport: /tcp,
	// /udp/<port>/quic-v1, /tcp/<port>/ws, /tcp/<port>/wss (or /tls/ws).
	// Required (at least one).
	Listen []ma.Multiaddr
	// Announce overrides the advertised addresses (host.Config.Announce);
	// every DNS /wss address is also announced in its /tls/sni/<host>/ws
	// form (ws.AnnounceForms).
	Announce []ma.Multiaddr
	// WSPath is the URL path WebSocket listeners upgrade on. Default "/".
	WSPath string
	// TLSConfig serves the /wss listeners (its GetCertificate may swap
	// certificates while running). Required when a /wss address is in
	// Listen.
	TLSConfig *tls.Config
	// Version goes into identify's agentVersion as relayd/<Version>.
	// Default "dev".
	Version string
	// HandshakeTimeout bounds a new connection's upgrade. Default 10 s.
	HandshakeTimeout time.Duration
	// ParkIdle is host.Config.ParkIdle: how long an idle TCP connection
	// keeps its yamux session. Default 2 s; negative: always.
	ParkIdle time.Duration
	// ReleaseAfter is host.Config.ReleaseAfter: how many new or parked
	// connections make a burst after which freed memory goes back to the
	// OS. Default 512; negative: never.
	ReleaseAfter int
	// ReservationTTL is a reservation's lifetime. Default 1 h.
	ReservationTTL time.Duration
	// StreamTimeout bounds reading a hop request and writing its reply
	// (circuit.Config.StreamTimeout). Default 1 min.
	StreamTimeout time.Duration
	// Limits are the node's policy: ACL classes, quotas, request rates
	// and circuit caps (limiter.Config). Reload changes them.
	Limits limiter.Config
	// Conns cap inbound connections in total and per IP before any
	// handshake (host.ConnLimits). Reload changes them.
	Conns host.ConnLimits
	// MaxHandshakes caps connection upgrades in flight per listener.
	// Default 256.
	MaxHandshakes int
	// ProxyProtocol accepts PROXY protocol headers on TCP listeners from
	// its Trusted load balancers (host.Config.ProxyProtocol). Default off.
	ProxyProtocol proxyproto.Config
	// Store records reservations. Default: an in-memory store. Ignored
	// with Fleet.
	Store reservation.Store
	// Fleet makes the node one of a fleet sharing reservations and
	// reservation quotas through Redis (package fleet); its
	// ReservationTTL, Logger and Metrics come from this Config. Default
	// nil: a single node with Store.
	Fleet *fleet.Config
	// Logger receives every component's logs. Default: discard. Hot
	// refusal logs ("hop refused", dropped handshakes) are rate-limited
	// per reason (see hotLogMessages).
	Logger *slog.Logger
	// NodeID names this node in the reservation store and on the mesh.
	// Default: a random ID per process.
	NodeID string
	// Mesh joins the node to its fleet's mesh (package mesh): set Listen,
	// Secret and Directory; New fills NodeID, Handler, Logger and Metrics.
	// Default: no mesh (Listen empty): a CONNECT for a peer that another
	// node holds is refused ("other_node").
	Mesh mesh.Config
	// Metrics receives the node's collectors (metrics.NewRelay); they
	// register with MustRegister, so one registry takes one node. Default
	// nil: no metrics.
	Metrics prometheus.Registerer
}

// Relay is one running relay node.
type Relay struct {
	host  *host.Host
	svc   *circuit.Service
	mesh  *mesh.Node // nil without a mesh
	lim   *limiter.Limiter
	fleet *fleet.Node // nil: a single node
	log   *slog.Logger

	serving  atomic.Bool // Serve is running
	draining atomic.Bool // Drain has begun

	closeOnce sync.Once
}

// New builds the node and binds its listeners; a listener that cannot bind
// is an error naming it.
func New(cfg Config) (*Relay, error) {
	if len(cfg.Listen) == 0 {
		return nil, errors.New("relay: no listen address")
	}
	cfg = cfg.withDefaults()
	lim, err := newLimiter(cfg.Limits, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	hostTracer, circuitTracer := tracers(cfg.Metrics, lim)
	transports, err := newTransports(cfg)
	if err != nil {
		return nil, err
	}
	logger := slog.New(newRateLimitHandler(cfg.Logger.Handler(), hotLogMessages, hotLogRate, hotLogBurst, time.Now))
	nodeID, err := cfg.nodeID()
	if err != nil {
		return nil, err
	}
	// The mesh listens first, so the fleet's heartbeat can publish where
	// it listens; the mesh reads the fleet's directory only when a circuit
	// is forwarded, after New.
	dir := &fleetDirectory{}
	var svc *circuit.Service
	mn, err := newMesh(cfg, nodeID, dir, logger, &svc)
	if err != nil {
		return nil, err
	}
	fl, store, quota, err := newFleet(cfg, nodeID, mn, lim, logger)
	if err != nil {
		closeMesh(mn)
		return nil, err
	}
	dir.node.Store(fl)
	h, err := host.New(host.Config{
		Key:              cfg.Key,
		AgentVersion:     "relayd/" + cfg.Version,
		Announce:         ws.AnnounceForms(cfg.Announce),
		HandshakeTimeout: cfg.HandshakeTimeout,
		ParkIdle:         cfg.ParkIdle,
		ReleaseAfter:     cfg.ReleaseAfter,
		MaxHandshakes:    cfg.MaxHandshakes,
		ConnLimits:       cfg.Conns,
		ProxyProtocol:    cfg.ProxyProtocol,
		Transports:       transports,
		Logger:           logger.With("component", "host"),
		Tracer:           hostTracer,
	})
	if err != nil {
		closeMesh(mn)
		closeFleet(fl)
		return nil, err
	}
	ccfg := circuit.Config{
		Key:            cfg.Key,
		NodeID:         nodeID,
		ReservationTTL: cfg.ReservationTTL,
		StreamTimeout:  cfg.StreamTimeout,
		Logger:         logger.With("component", "circuit"),
		Tracer:         circuitTracer,
	}
	if mn != nil {
		ccfg.Forwarder = mn
	}
	svc, err = circuit.New(ccfg, h, store, quota)
	if err != nil {
		h.Close()
		closeMesh(mn)
		closeFleet(fl)
		return nil, err
	}
	h.Handle(wire.ProtoHop, svc.HandleHop)
	h.OnPeerDisconnected(svc.PeerDisconnected)
	r := &Relay{host: h, svc: svc, mesh: mn, lim: lim, fleet: fl, log: cfg.Logger}
	for _, a := range cfg.Listen {
		if _, err := h.Listen(a); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

func (c Config) withDefaults() Config {
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Store == nil {
		c.Store = reservation.NewMemory(nil)
	}
	if c.NodeID == "" {
		c.NodeID = randomNodeID()
	}
	return c
}

// tracers builds the node's collectors on reg; a nil reg means none. The
// reservation gauge reads the limiter, which owns the slots.
func tracers(reg prometheus.Registerer, lim *limiter.Limiter) (host.Tracer, circuit.Tracer) {
	if reg == nil {
		return host.NopTracer{}, circuit.NopTracer{}
	}
	m := metrics.NewRelay(reg, lim.Reservations)
	return m.Connections, m
}

// ID is the node's peer ID.
func (r *Relay) ID() identity.PeerID { return r.host.ID() }

// Host is the node's libp2p host.
func (r *Relay) Host() *host.Host { return r.host }

// Addrs are the advertised addresses, each ending in /p2p/<id>.
func (r *Relay) Addrs() []ma.Multiaddr {
	self, _ := ma.NewComponent("p2p", r.ID().String())
	var out []ma.Multiaddr
	for _, a := range r.host.Addrs() {
		out = append(out, a.Encapsulate(self))
	}
	return out
}

// Serve runs the node until ctx is done, then stops accepting new
// connections and returns; Close ends what is established.
func (r *Relay) Serve(ctx context.Context) error {
	r.serving.Store(true)
	defer r.serving.Store(false)
	var wg sync.WaitGroup
	wg.Go(func() { r.svc.Serve(ctx) })
	if r.fleet != nil {
		wg.Go(func() { r.fleet.Serve(ctx) })
	}
	if r.mesh != nil {
		wg.Go(func() { r.mesh.Serve(ctx) })
	}
	err := r.host.Serve(ctx)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	return nil
}

// Ready reports whether the node takes new connections: Serve is running,
// no drain has begun, and (in a fleet) the node can admit reservations
// (fleet.Node.Ready). It backs the admin /readyz.
func (r *Relay) Ready() bool {
	return r.serving.Load() && !r.draining.Load() && (r.fleet == nil || r.fleet.Ready())
}

// Status is what /readyz adds to its answer: the fleet's Redis state, or
// "" for a single node.
func (r *Relay) Status() string {
	if r.fleet == nil {
		return ""
	}
	return r.fleet.State()
}

// Fleet is the node's fleet membership (MeshAddr, state), nil for a
// single node.
func (r *Relay) Fleet() *fleet.Node { return r.fleet }

// drainPoll is how often Drain looks at the circuit count: a load of one
// counter, and far below what a 30 s drain notices.
const drainPoll = 50 * time.Millisecond

// Drain stops taking new work and waits for the work in hand: the
// listeners close, new RESERVE and CONNECT requests are refused (reason
// "draining"), and Ready turns false; then it waits until every circuit
// has ended by itself, or ctx is done (then the error wraps ctx's cause).
// Established connections and reservations stay. Close ends what is left.
func (r *Relay) Drain(ctx context.Context) error {
	r.svc.Drain()
	r.host.StopAccepting()
	if r.fleet != nil {
		// At once, not after the circuits: the fleet must stop counting
		// and routing to this node's reservations now. Before Ready
		// turns false, so a node reported not ready is out of the fleet.
		r.fleet.Leave(ctx)
	}
	r.draining.Store(true) // last: once not ready, nothing new gets in
	r.log.Info("draining", "circuits", r.svc.ActiveCircuits())
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		n := r.svc.ActiveCircuits()
		if n == 0 {
			r.log.Info("drained")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("relay: drain: %d circuits still open: %w", n, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// Close aborts circuits, closes every connection and waits for all
// goroutines. Safe to call more than once.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.svc.Close()
		if r.mesh != nil {
			r.mesh.Close()
		}
		r.host.Close()
		closeFleet(r.fleet)
	})
	return nil
}

// newFleet joins the fleet when cfg.Fleet is set and returns the store and
// quota the circuit service uses: the fleet's, or cfg.Store and lim.
func newFleet(cfg Config, nodeID string, mn *mesh.Node, lim *limiter.Limiter, logger *slog.Logger) (*fleet.Node, reservation.Store, circuit.Quota, error) {
	if cfg.Fleet == nil {
		return nil, cfg.Store, lim, nil
	}
	fc := *cfg.Fleet
	fc.NodeID = nodeID
	if mn != nil {
		fc.MeshAddr = mn.Advertise()
	}
	fc.ReservationTTL = cfg.ReservationTTL
	fc.Logger = logger.With("component", "fleet")
	fc.Metrics = cfg.Metrics
	fl, err := fleet.New(fc, lim)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("relay: %w", err)
	}
	return fl, fl.Store(), fl.Quota(), nil
}

func closeFleet(fl *fleet.Node) {
	if fl != nil {
		fl.Close()
	}
}
