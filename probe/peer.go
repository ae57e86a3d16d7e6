package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/dcutr"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/quic"
	"github.com/relayd/relayd/p2p/transport/tcp"
	"github.com/relayd/relayd/p2p/transport/ws"
)

// EchoID is the probe's echo protocol: the listener copies a stream back.
const EchoID = "/relayd/probe/echo/1.0.0"

// PeerConfig configures one ephemeral probe peer.
type PeerConfig struct {
	// Relay are the relay's addresses (without /p2p), each dialed, so the
	// relay observes us on every transport (TCP and QUIC mappings differ).
	Relay []ma.Multiaddr
	// RelayID is the relay's peer ID.
	RelayID identity.PeerID
	// Listen are our listen addresses. Default /ip4/0.0.0.0/tcp/0 and
	// /ip4/0.0.0.0/udp/0/quic-v1: a hole-punching peer must listen where it
	// dials from.
	Listen []ma.Multiaddr
	// NoListen keeps the peer from listening (a probe without hole
	// punching needs no listener).
	NoListen bool
	// DCUtR tunes hole punching.
	DCUtR dcutr.Config
	// ClientTLS is the TLS configuration for /wss dials. Default: the
	// system's roots.
	ClientTLS *tls.Config
	// Logger gets debug logs. Default: discard.
	Logger *slog.Logger
}

// Peer is an ephemeral client: a fresh identity, listening, connected to
// the relay on every relay address, with DCUtR ready in both roles.
type Peer struct {
	h      *host.Host
	svc    *dcutr.Service
	cfg    PeerConfig
	cancel context.CancelFunc
	served chan struct{}

	mu       sync.Mutex
	observed []ma.Multiaddr
	circuits chan *host.Conn
	answered chan dcutr.Result
	echoed   chan struct{} // one value per echo served on a direct connection
}

// NewPeer starts a peer and connects it to the relay. Close it.
func NewPeer(ctx context.Context, cfg PeerConfig) (*Peer, error) {
	if cfg.NoListen {
		cfg.Listen = nil
	} else if len(cfg.Listen) == 0 {
		cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/0.0.0.0/tcp/0"), ma.StringCast("/ip4/0.0.0.0/udp/0/quic-v1")}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	key, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	q, err := quic.New(quic.Config{Key: key, DialFromListener: true})
	if err != nil {
		return nil, err
	}
	w, err := ws.New(ws.Config{ClientTLSConfig: cfg.ClientTLS})
	if err != nil {
		q.Close()
		return nil, err
	}
	h, err := host.New(host.Config{
		Key:          key,
		AgentVersion: "relayd-probe",
		Transports:   []transport.Transport{tcp.NewReusing(), q, w},
		Logger:       cfg.Logger,
	})
	if err != nil {
		q.Close()
		return nil, err
	}
	p := &Peer{h: h, cfg: cfg, served: make(chan struct{}), circuits: make(chan *host.Conn, 4), answered: make(chan dcutr.Result, 8), echoed: make(chan struct{}, 8)}
	for _, a := range cfg.Listen {
		if _, err := h.Listen(a); err != nil {
			h.Close()
			return nil, err
		}
	}
	sctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { defer close(p.served); h.Serve(sctx) }()
	h.Handle(EchoID, func(s *host.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(time.Minute))
		io.Copy(s, io.LimitReader(s, 1<<20))
		if s.Conn().Relayed() {
			return // Echoed is about the direct connection
		}
		select {
		case p.echoed <- struct{}{}:
		default:
		}
	})
	p.svc = dcutr.NewService(h, cfg.DCUtR, p.Addrs)
	p.svc.OnResult(func(_ identity.PeerID, r dcutr.Result) {
		select {
		case p.answered <- r:
		default:
		}
	})
	if err := p.connectRelay(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// connectRelay dials every relay address and learns how the relay sees us.
func (p *Peer) connectRelay(ctx context.Context) error {
	var errs []error
	for _, a := range p.cfg.Relay {
		if rest, last := ma.SplitLast(a); last != nil && last.Code() == ma.P_P2P {
			a = rest
		}
		c, err := p.h.Dial(ctx, a, p.cfg.RelayID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info, err := p.h.Identify(ctx, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.ObservedAddr != nil {
			p.mu.Lock()
			p.observed = append(p.observed, info.ObservedAddr)
			p.mu.Unlock()
		}
	}
	if p.h.NumPeers() == 0 {
		return fmt.Errorf("connect to relay: %w", errors.Join(errs...))
	}
	return nil
}

// ID is the peer's ID.
func (p *Peer) ID() identity.PeerID { return p.h.ID() }

// Host is the peer's host.
func (p *Peer) Host() *host.Host { return p.h }

// Observed are our addresses as the relay saw them.
func (p *Peer) Observed() []ma.Multiaddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.observed)
}

// Addrs are what we offer in DCUtR: observed addresses first, then our
// listen addresses (a peer on our network reaches those directly).
func (p *Peer) Addrs() []ma.Multiaddr {
	return append(p.Observed(), p.h.Addrs()...)
}

// Reserve takes a reservation and accepts circuits from then on (see
// Circuit).
func (p *Peer) Reserve(ctx context.Context) (*circuit.ReservationInfo, error) {
	p.h.Handle(wire.ProtoStop, circuit.StopHandler(func(src identity.PeerID, _ *wire.Limit, s *host.Stream) {
		c, err := p.h.UpgradeRelayed(context.Background(), s, p.cfg.RelayID, src, false)
		if err != nil {
			p.cfg.Logger.Debug("probe: circuit upgrade failed", "err", err)
			return
		}
		select {
		case p.circuits <- c:
		default:
			c.Close()
		}
	}))
	return circuit.Reserve(ctx, p.h, p.cfg.RelayID)
}

// Circuit waits for the next upgraded circuit from a peer.
func (p *Peer) Circuit(ctx context.Context) (*host.Conn, error) {
	select {
	case c := <-p.circuits:
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a circuit: %w", ctx.Err())
	}
}

// Connect opens a circuit to target and upgrades it.
func (p *Peer) Connect(ctx context.Context, target identity.PeerID) (*host.Conn, *wire.Limit, error) {
	s, lim, err := circuit.Connect(ctx, p.h, p.cfg.RelayID, target)
	if err != nil {
		return nil, nil, err
	}
	c, err := p.h.UpgradeRelayed(ctx, s, p.cfg.RelayID, target, true)
	if err != nil {
		return nil, nil, err
	}
	return c, lim, nil
}

// HolePunch runs the listener's side of DCUtR on a relayed connection.
func (p *Peer) HolePunch(ctx context.Context, c *host.Conn) dcutr.Result {
	return p.svc.HolePunch(ctx, c)
}

// Answered returns the next round we answered as the dialer.
func (p *Peer) Answered(ctx context.Context) (dcutr.Result, error) {
	select {
	case r := <-p.answered:
		return r, nil
	case <-ctx.Done():
		return dcutr.Result{}, ctx.Err()
	}
}

// Echoed waits until the peer has served an echo stream on a direct
// connection, or ctx ends.
func (p *Peer) Echoed(ctx context.Context) bool {
	select {
	case <-p.echoed:
		return true
	case <-ctx.Done():
		return false
	}
}

// Close stops the peer and waits for its goroutines.
func (p *Peer) Close() error {
	p.svc.Close()
	p.cancel()
	<-p.served
	return p.h.Close()
}

// EchoDirect echoes over a live direct connection to remote and returns
// it. Two punched paths (TCP and QUIC, or a TCP dial each way) can finish
// at once, and each side may keep a different one and abort the other
// mid-handshake, so it tries every live direct connection and, for up to
// 3 s, the ones still arriving.
func (p *Peer) EchoDirect(ctx context.Context, remote identity.PeerID, size int) (*host.Conn, error) {
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	tried := map[*host.Conn]bool{}
	errs := []error{errors.New("no live direct connection")}
	for {
		c, err := p.h.WaitConn(wctx, remote, func(c *host.Conn) bool {
			if c.Relayed() || tried[c] {
				return false
			}
			select {
			case <-c.Done():
				return false
			default:
				return true
			}
		})
		if err != nil {
			return nil, errors.Join(errs...)
		}
		tried[c] = true
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = Echo(ectx, c, size)
		cancel()
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
}

// Echo sends size random bytes on a new echo stream over c and checks they
// come back.
func Echo(ctx context.Context, c *host.Conn, size int) error {
	s, err := c.NewStream(ctx, EchoID)
	if err != nil {
		return err
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	return echoOver(s, size)
}
