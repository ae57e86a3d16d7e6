package dcutr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
)

// Result is a finished hole punch as a host sees it.
type Result struct {
	Outcome
	// Conn is the direct connection; nil when the punch failed.
	Conn *host.Conn
	Err  error
}

// Service runs DCUtR on a host: it answers dcutr streams on relayed
// connections the host dialed (the dialer's role), and HolePunch runs the
// listener's role on a relayed connection the host accepted.
type Service struct {
	ctx    context.Context // cancelled by Close: ends the rounds we answer
	cancel context.CancelFunc
	h      *host.Host
	cfg    Config
	addrs  func() []ma.Multiaddr

	mu       sync.Mutex
	onResult func(identity.PeerID, Result)
}

// NewService registers the dcutr handler on h. addrs are the addresses we
// offer a peer: our observed addresses (identify's observedAddr from
// peers, e.g. the relay) and listen addresses. The host should use port-
// reusing transports (tcp.NewReusing, quic DialFromListener) so that our
// punches leave from the addresses we offer.
func NewService(h *host.Host, cfg Config, addrs func() []ma.Multiaddr) *Service {
	s := &Service{h: h, cfg: cfg.withDefaults(), addrs: addrs}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	h.Handle(ID, s.handle)
	return s
}

// Close aborts the rounds the service is answering. Their goroutines are
// the host's (stream handlers); host.Close waits for them.
func (s *Service) Close() error {
	s.cancel()
	return nil
}

// OnResult registers fn to get the outcome of every round this host
// answered as the dialer.
func (s *Service) OnResult(fn func(identity.PeerID, Result)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onResult = fn
}

// handle is the dialer's side: only on a relayed connection we opened, as
// in go-libp2p (the listener of a circuit starts DCUtR, never the dialer).
func (s *Service) handle(st *host.Stream) {
	c := st.Conn()
	if !c.Relayed() || c.Inbound() {
		st.Reset()
		return
	}
	p := c.RemotePeer()
	var direct *host.Conn
	out, err := Respond(s.ctx, s.cfg, st, s.ownAddrs(), func(ctx context.Context, remote []ma.Multiaddr) error {
		var err error
		direct, err = s.dialAll(ctx, p, remote)
		return err
	})
	if err != nil {
		st.Reset()
	}
	s.mu.Lock()
	fn := s.onResult
	s.mu.Unlock()
	if fn != nil {
		fn(p, Result{Outcome: out, Conn: direct, Err: err})
	}
}

// HolePunch runs the listener's side on relayed, a relayed connection the
// host accepted, and returns the direct connection or the error after the
// last attempt.
func (s *Service) HolePunch(ctx context.Context, relayed *host.Conn) Result {
	if !relayed.Relayed() || !relayed.Inbound() {
		return Result{Err: errors.New("dcutr: hole punch needs a relayed connection the peer opened")}
	}
	p := relayed.RemotePeer()
	var direct *host.Conn
	in := &Initiator{
		Config: s.cfg,
		Open: func(ctx context.Context) (Stream, error) {
			return relayed.NewStream(ctx, ID)
		},
		Addrs: s.ownAddrs,
		Punch: func(ctx context.Context, remote []ma.Multiaddr) error {
			var err error
			direct, err = s.punchAll(ctx, p, remote)
			return err
		},
	}
	out, err := in.Run(ctx)
	return Result{Outcome: out, Conn: direct, Err: err}
}

// ownAddrs are the addresses we can punch from, without /p2p, deduplicated.
func (s *Service) ownAddrs() []ma.Multiaddr {
	return s.usable(s.addrs())
}

// usable drops relayed addresses, those no transport of ours handles and
// duplicates, and strips a trailing /p2p.
func (s *Service) usable(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if isCircuit(a) {
			continue
		}
		if rest, last := ma.SplitLast(a); last != nil && last.Code() == ma.P_P2P {
			a = rest
		}
		if !s.h.CanDial(a) || slices.ContainsFunc(out, a.Equal) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// dialAll is the dialer's punch: dial every address at once as the
// upgrade's initiator (TCP: our SYN crosses the peer's; QUIC: we are the
// client), and take the first direct connection to p by any path.
func (s *Service) dialAll(ctx context.Context, p identity.PeerID, remote []ma.Multiaddr) (*host.Conn, error) {
	return s.race(ctx, p, remote, func(ctx context.Context, a ma.Multiaddr) error {
		_, err := s.h.Dial(ctx, a, p)
		return err
	})
}

// punchAll is the listener's punch: TCP addresses are dialed with the
// upgrade's responder role (simultaneous open), QUIC addresses get random
// datagrams until the peer's dial comes in.
func (s *Service) punchAll(ctx context.Context, p identity.PeerID, remote []ma.Multiaddr) (*host.Conn, error) {
	return s.race(ctx, p, remote, func(ctx context.Context, a ma.Multiaddr) error {
		if isQUIC(a) {
			return s.h.Punch(ctx, a)
		}
		_, err := s.h.DialAsResponder(ctx, a, p)
		return err
	})
}

// race runs try on every usable address and waits for a direct connection
// to p, however it comes (our dial, or the peer's arriving on a listener).
// Every try is cancelled and waited for before race returns.
func (s *Service) race(ctx context.Context, p identity.PeerID, remote []ma.Multiaddr, try func(context.Context, ma.Multiaddr) error) (*host.Conn, error) {
	remote = s.usable(remote)
	if len(remote) == 0 {
		return nil, fmt.Errorf("%w: none of the peer's addresses is dialable here", ErrNoAddrs)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	failed := make(chan error, len(remote))
	got := make(chan *host.Conn, 1)
	for _, a := range remote {
		wg.Go(func() {
			if err := try(ctx, a); err != nil {
				failed <- fmt.Errorf("%s: %w", a, err)
			}
		})
	}
	wg.Go(func() {
		if c, err := s.h.WaitConn(ctx, p, host.DirectConn); err == nil {
			got <- c
		}
	})
	finish := func(err error) (*host.Conn, error) {
		cancel()
		wg.Wait()
		select {
		case c := <-got: // a connection beats a late error
			return c, nil
		default:
			return nil, err
		}
	}
	var errs []error
	for {
		select {
		case c := <-got:
			got <- c
			return finish(nil)
		case err := <-failed:
			if errs = append(errs, err); len(errs) == len(remote) {
				return finish(errors.Join(errs...))
			}
		case <-ctx.Done():
			return finish(ctx.Err())
		}
	}
}

func isQUIC(a ma.Multiaddr) bool {
	for _, c := range a {
		if c.Code() == ma.P_QUIC_V1 {
			return true
		}
	}
	return false
}
