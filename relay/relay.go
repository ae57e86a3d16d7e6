package relay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/reservation"
)

// Config configures a node. Zero values mean the defaults of the component
// each field is handed to.
type Config struct {
	// Key is the node's identity. Required.
	Key ed25519.PrivateKey
	// Listen are the addresses to bind. Required (at least one).
	Listen []ma.Multiaddr
	// Announce overrides the advertised addresses (host.Config.Announce).
	Announce []ma.Multiaddr
	// Version goes into identify's agentVersion as relayd/<Version>.
	// Default "dev".
	Version string
	// HandshakeTimeout bounds a new connection's upgrade. Default 10 s.
	HandshakeTimeout time.Duration
	// ReservationTTL is a reservation's lifetime. Default 1 h.
	ReservationTTL time.Duration
	// Limits are the node's quotas and circuit caps.
	Limits limiter.Config
	// Store records reservations. Default: an in-memory store.
	Store reservation.Store
	// Logger receives every component's logs. Default: discard.
	Logger *slog.Logger
}

// Relay is one running relay node.
type Relay struct {
	host *host.Host
	svc  *circuit.Service
	log  *slog.Logger

	closeOnce sync.Once
}

// New builds the node and binds its listeners; a listener that cannot bind
// is an error naming it.
func New(cfg Config) (*Relay, error) {
	if len(cfg.Listen) == 0 {
		return nil, errors.New("relay: no listen address")
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Store == nil {
		cfg.Store = reservation.NewMemory(nil)
	}
	h, err := host.New(host.Config{
		Key:              cfg.Key,
		AgentVersion:     "relayd/" + cfg.Version,
		Announce:         cfg.Announce,
		HandshakeTimeout: cfg.HandshakeTimeout,
		Logger:           cfg.Logger.With("component", "host"),
	})
	if err != nil {
		return nil, err
	}
	svc, err := circuit.New(circuit.Config{
		Key:            cfg.Key,
		ReservationTTL: cfg.ReservationTTL,
		Logger:         cfg.Logger.With("component", "circuit"),
	}, h, cfg.Store, limiter.New(cfg.Limits))
	if err != nil {
		return nil, err
	}
	h.Handle(wire.ProtoHop, svc.HandleHop)
	h.OnPeerDisconnected(svc.PeerDisconnected)
	r := &Relay{host: h, svc: svc, log: cfg.Logger}
	for _, a := range cfg.Listen {
		if _, err := h.Listen(a); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
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
	var wg sync.WaitGroup
	wg.Go(func() { r.svc.Serve(ctx) })
	err := r.host.Serve(ctx)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	return nil
}

// Close aborts circuits, closes every connection and waits for all
// goroutines. Safe to call more than once.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.svc.Close()
		r.host.Close()
	})
	return nil
}
