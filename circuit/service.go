package circuit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/reservation"
)

// Host is what the service needs from the libp2p host.
type Host interface {
	ID() identity.PeerID
	Addrs() []ma.Multiaddr
	NewStream(ctx context.Context, p identity.PeerID, proto string) (*host.Stream, error)
	NewStreamPipelined(ctx context.Context, p identity.PeerID, proto string, first []byte) (*host.Stream, error)
	ConnsToPeer(p identity.PeerID) []*host.Conn
}

// Config configures a Service. Zero values mean the defaults written on
// each field.
type Config struct {
	// Key is the relay's identity key; it signs reservation vouchers.
	// Required.
	Key ed25519.PrivateKey
	// NodeID names this relay node in the reservation store. Default: a
	// random 8-byte hex string per process.
	NodeID string
	// ReservationTTL is how long a reservation lasts from its last
	// RESERVE. Default 1 h.
	ReservationTTL time.Duration
	// StreamTimeout bounds reading a hop request and writing the reply.
	// Default 1 min.
	StreamTimeout time.Duration
	// ConnectTimeout bounds opening the stop stream to the target.
	// Default 30 s.
	ConnectTimeout time.Duration
	// StopTimeout bounds the stop CONNECT/STATUS exchange. Default 1 min.
	StopTimeout time.Duration
	// SweepInterval is how often expired reservations are dropped.
	// Default 1 min.
	SweepInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives the service's logs. Default: discard.
	Logger *slog.Logger
	// Tracer receives events (metrics). Default: NopTracer.
	Tracer Tracer
	// Forwarder carries a CONNECT whose target is held by another fleet
	// node to that node (package mesh). Default nil: such a CONNECT is
	// refused with NO_RESERVATION, reason "other_node".
	Forwarder Forwarder
}

func (c Config) withDefaults() Config {
	if c.NodeID == "" {
		var b [8]byte
		rand.Read(b[:])
		c.NodeID = hex.EncodeToString(b[:])
	}
	if c.ReservationTTL <= 0 {
		c.ReservationTTL = time.Hour
	}
	if c.StreamTimeout <= 0 {
		c.StreamTimeout = time.Minute
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = time.Minute
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Tracer == nil {
		c.Tracer = NopTracer{}
	}
	return c
}

// Service is the relay: it serves hop streams and owns circuits.
type Service struct {
	cfg   Config
	trace Tracer
	host  Host
	store reservation.Store
	lim   Quota
	log   *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wgMu   sync.Mutex // orders wg.Add in track before Close's wg.Wait

	reserveMu sync.Mutex // serialises quota check + store write per node

	addrMu  sync.Mutex     // guards the reservationAddrs cache
	addrIn  []ma.Multiaddr // host addresses addrOut was built from
	addrOut [][]byte

	draining atomic.Bool  // set by Drain: refuse RESERVE and CONNECT
	connects atomic.Int64 // CONNECT requests being served, circuits included
}

// New builds the service. Register HandleHop for wire.ProtoHop and
// PeerDisconnected with the host, then run Serve.
func New(cfg Config, h Host, store reservation.Store, lim Quota) (*Service, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("circuit: Config.Key must be an Ed25519 private key")
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, trace: cfg.Tracer, host: h, store: store, lim: lim, log: cfg.Logger,
		ctx: ctx, cancel: cancel,
	}, nil
}

// Serve sweeps expired reservations until ctx is done or Close.
func (s *Service) Serve(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case <-t.C:
			s.sweep()
		}
	}
}

func (s *Service) sweep() {
	gone, err := s.store.Sweep(s.ctx, s.cfg.Now())
	if err != nil {
		s.log.Warn("sweeping reservations failed", "err", err)
		return
	}
	for _, r := range gone {
		if r.Node == s.cfg.NodeID && s.lim.Release(r.Peer) {
			s.trace.ReservationEnded("expired")
			s.log.Debug("reservation expired", "peer", r.Peer)
		}
	}
}

// PeerDisconnected drops the peer's reservation when its last connection
// to this node closes (register with host.OnPeerDisconnected).
func (s *Service) PeerDisconnected(p identity.PeerID) {
	// A peer that reconnects may RESERVE on its new connection before
	// this runs. Under reserveMu that RESERVE finished first (the peer is
	// connected again and keeps the slot it refreshed) or starts after (a
	// fresh slot): a reconnect never leaves a connected peer without its
	// reservation, nor holds two.
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	if len(s.host.ConnsToPeer(p)) > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if err := s.store.Delete(ctx, p, s.cfg.NodeID); err != nil {
		s.log.Warn("dropping reservation failed", "peer", p, "err", err)
	}
	if s.lim.Release(p) {
		s.trace.ReservationEnded("disconnected")
	}
}

// Drain makes the service refuse every new RESERVE (RESERVATION_REFUSED)
// and CONNECT (RESOURCE_LIMIT_EXCEEDED) with reason "draining", for a
// graceful shutdown; circuits already open carry on. It cannot be undone.
func (s *Service) Drain() { s.draining.Store(true) }

// ActiveCircuits counts the CONNECT requests being served, open circuits
// included: a drain is complete when it is 0.
func (s *Service) ActiveCircuits() int { return int(s.connects.Load()) }

// Close aborts every circuit and waits for their goroutines.
func (s *Service) Close() error {
	s.wgMu.Lock()
	s.cancel()
	s.wgMu.Unlock()
	s.wg.Wait()
	return nil
}

// track counts one circuit goroutine for Close to wait on; false once
// Close has begun. The lock gives every Add a happens-before edge to
// Close's Wait (the race detector demands one, and an Add after Wait has
// started would let Close return while the goroutine still runs).
func (s *Service) track() bool {
	s.wgMu.Lock()
	defer s.wgMu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.wg.Add(1)
	return true
}
