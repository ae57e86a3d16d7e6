package dcutr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/pbio"
)

// Defaults; see doc.go for why they fit the relay's circuit limits.
const (
	DefaultAttempts      = 3
	DefaultStreamTimeout = 60 * time.Second
	DefaultPunchTimeout  = 10 * time.Second
)

var (
	// ErrNoAddrs means one side had no address to offer: nothing to punch.
	ErrNoAddrs = errors.New("dcutr: no addresses to punch")
	// ErrUnexpected means the peer sent a message out of turn.
	ErrUnexpected = errors.New("dcutr: unexpected message")
	// ErrPunchFailed means every attempt ended without a direct connection.
	ErrPunchFailed = errors.New("dcutr: hole punch failed")
)

// Config tunes both roles. Zero values mean the defaults.
type Config struct {
	// Attempts is how many rounds the listener runs (the spec: retry
	// twice). Default 3.
	Attempts int
	// StreamTimeout bounds one CONNECT/CONNECT/SYNC exchange. Default 60 s
	// (go-libp2p's).
	StreamTimeout time.Duration
	// PunchTimeout bounds one attempt's dials and punches. Default 10 s
	// (go-libp2p's direct dial timeout).
	PunchTimeout time.Duration
	// Logger gets debug logs. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.StreamTimeout <= 0 {
		c.StreamTimeout = DefaultStreamTimeout
	}
	if c.PunchTimeout <= 0 {
		c.PunchTimeout = DefaultPunchTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Stream is what an exchange runs on: a /libp2p/dcutr stream over the
// relayed connection.
type Stream interface {
	io.Reader
	io.Writer
	SetDeadline(time.Time) error
}

// PunchFunc makes one attempt at a direct connection to addrs and returns
// when it has one (nil) or gives up. ctx carries the attempt's deadline.
type PunchFunc func(ctx context.Context, addrs []ma.Multiaddr) error

// Outcome is what one side's hole punch did.
type Outcome struct {
	// Attempts is the number of rounds run (the successful one included).
	Attempts int
	// RTT is the last round trip measured over the relay (listener side).
	RTT time.Duration
	// Remote are the addresses the peer offered in the last round.
	Remote []ma.Multiaddr
}

// Initiator is the side that received the relayed connection: spec B, the
// reserving peer. It drives the protocol: per attempt it opens a stream,
// sends CONNECT with its addresses, measures the RTT until the peer's
// CONNECT, sends SYNC, waits RTT/2 and punches (TCP: dials as the
// upgrade's responder; QUIC: sends random datagrams), so that its packets
// leave when the peer's dial, made on receiving SYNC, arrives.
type Initiator struct {
	Config Config
	// Open opens a new dcutr stream over the relayed connection.
	Open func(ctx context.Context) (Stream, error)
	// Addrs are our addresses to offer (observed and listen addresses).
	Addrs func() []ma.Multiaddr
	// Punch is our half of the punch.
	Punch PunchFunc
}

// Run runs up to Config.Attempts rounds and returns after the first
// successful punch, or ErrPunchFailed (wrapping the last error) after the
// last. A protocol error ends it at once: retrying cannot fix it.
func (in *Initiator) Run(ctx context.Context) (Outcome, error) {
	cfg := in.Config.withDefaults()
	var out Outcome
	var last error
	for out.Attempts < cfg.Attempts {
		out.Attempts++
		remote, rtt, err := in.round(ctx, cfg)
		if err != nil {
			return out, err
		}
		out.RTT, out.Remote = rtt, remote
		cfg.Logger.Debug("dcutr: punching", "attempt", out.Attempts, "rtt", rtt, "addrs", remote)
		if err := sleep(ctx, rtt/2); err != nil {
			return out, err
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.PunchTimeout)
		last = in.Punch(pctx, remote)
		cancel()
		if last == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		cfg.Logger.Debug("dcutr: attempt failed", "attempt", out.Attempts, "err", last)
	}
	return out, fmt.Errorf("%w after %d attempts: %w", ErrPunchFailed, out.Attempts, last)
}

func (in *Initiator) round(ctx context.Context, cfg Config) ([]ma.Multiaddr, time.Duration, error) {
	own := in.Addrs()
	if len(own) == 0 {
		return nil, 0, ErrNoAddrs
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.StreamTimeout)
	defer cancel()
	s, err := in.Open(sctx)
	if err != nil {
		return nil, 0, fmt.Errorf("dcutr: open stream: %w", err)
	}
	if c, ok := s.(io.Closer); ok {
		defer c.Close()
	}
	return bound(sctx, s, func() ([]ma.Multiaddr, time.Duration, error) { return InitiateExchange(s, own) })
}

// bound runs fn with s's deadline at ctx's and cancels s's I/O when ctx
// ends early.
func bound[T any](ctx context.Context, s Stream, fn func() (T, time.Duration, error)) (T, time.Duration, error) {
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { s.SetDeadline(time.Unix(1, 0)) })
	v, d, err := fn()
	if !stop() && err != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	s.SetDeadline(time.Time{})
	return v, d, err
}

// InitiateExchange is the listener's messages of one round: CONNECT with
// own, the peer's CONNECT (its addresses; the time it took is the RTT),
// SYNC.
func InitiateExchange(s Stream, own []ma.Multiaddr) ([]ma.Multiaddr, time.Duration, error) {
	start := time.Now()
	if err := write(s, TypeConnect, own); err != nil {
		return nil, 0, err
	}
	m, err := read(s)
	if err != nil {
		return nil, 0, err
	}
	rtt := time.Since(start)
	if m.Type != TypeConnect {
		return nil, 0, fmt.Errorf("%w: %v, want CONNECT", ErrUnexpected, m.Type)
	}
	remote := addrsOf(m)
	if len(remote) == 0 {
		return nil, 0, fmt.Errorf("%w: peer offered none", ErrNoAddrs)
	}
	if err := write(s, TypeSync, nil); err != nil {
		return nil, 0, err
	}
	return remote, rtt, nil
}

// RespondExchange is the dialer's messages of one round: the peer's
// CONNECT, our CONNECT with own, the peer's SYNC. It returns the peer's
// addresses; the caller dials them at once.
func RespondExchange(s Stream, own []ma.Multiaddr) ([]ma.Multiaddr, error) {
	m, err := read(s)
	if err != nil {
		return nil, err
	}
	if m.Type != TypeConnect {
		return nil, fmt.Errorf("%w: %v, want CONNECT", ErrUnexpected, m.Type)
	}
	remote := addrsOf(m)
	if len(remote) == 0 {
		return nil, fmt.Errorf("%w: peer offered none", ErrNoAddrs)
	}
	if len(own) == 0 {
		return nil, ErrNoAddrs
	}
	if err := write(s, TypeConnect, own); err != nil {
		return nil, err
	}
	if m, err = read(s); err != nil {
		return nil, err
	}
	if m.Type != TypeSync {
		return nil, fmt.Errorf("%w: %v, want SYNC", ErrUnexpected, m.Type)
	}
	return remote, nil
}

// Respond is the dialer's side (spec A, the peer that opened the circuit)
// of one round on an inbound dcutr stream: exchange, then punch at once.
// The Outcome has Attempts 0: only the listener counts rounds.
func Respond(ctx context.Context, cfg Config, s Stream, own []ma.Multiaddr, punch PunchFunc) (Outcome, error) {
	cfg = cfg.withDefaults()
	sctx, cancel := context.WithTimeout(ctx, cfg.StreamTimeout)
	remote, _, err := bound(sctx, s, func() ([]ma.Multiaddr, time.Duration, error) {
		r, err := RespondExchange(s, own)
		return r, 0, err
	})
	cancel()
	if err != nil {
		return Outcome{}, err
	}
	if c, ok := s.(io.Closer); ok {
		c.Close()
	}
	out := Outcome{Remote: remote}
	pctx, cancel := context.WithTimeout(ctx, cfg.PunchTimeout)
	defer cancel()
	if err := punch(pctx, remote); err != nil {
		return out, fmt.Errorf("%w: %w", ErrPunchFailed, err)
	}
	return out, nil
}

func write(w io.Writer, t Type, addrs []ma.Multiaddr) error {
	m := Message{Type: t}
	for _, a := range addrs {
		if len(m.ObsAddrs) == MaxAddrs {
			break
		}
		m.ObsAddrs = append(m.ObsAddrs, a.Bytes())
	}
	if err := m.Check(); err != nil {
		return err
	}
	if err := pbio.WriteDelimited(w, m.Append(nil)); err != nil {
		return fmt.Errorf("dcutr: write %v: %w", t, err)
	}
	return nil
}

func read(r io.Reader) (Message, error) {
	b, err := pbio.ReadDelimited(r, MaxMessageSize)
	if err != nil {
		return Message{}, fmt.Errorf("dcutr: read: %w", err)
	}
	return Parse(b)
}

// addrsOf are the message's addresses that parse and are not relayed
// (a p2p-circuit address cannot be punched).
func addrsOf(m Message) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, b := range m.ObsAddrs {
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil || isCircuit(a) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func isCircuit(a ma.Multiaddr) bool {
	for _, c := range a {
		if c.Code() == ma.P_CIRCUIT {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
