package probe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/dcutr"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
)

// Options are one probe's settings.
type Options struct {
	Peer PeerConfig
	// EchoBytes are echoed through the circuit (and the direct
	// connection). Default 1024; the echo must fit the relay's data limit.
	EchoBytes int
	// HolePunch runs DCUtR after the echo.
	HolePunch bool
}

// Report is one probe's result. Durations are in seconds in JSON.
type Report struct {
	OK        bool         `json:"ok"`
	Error     string       `json:"error,omitempty"`
	Role      string       `json:"role"` // both, listener or dialer
	Peer      string       `json:"peer"`
	Remote    string       `json:"remote_peer,omitempty"`
	Observed  []string     `json:"observed_addrs,omitempty"`
	Reserve   *Seconds     `json:"reserve_seconds,omitempty"`
	Connect   *Seconds     `json:"connect_seconds,omitempty"`
	Echo      *Seconds     `json:"echo_seconds,omitempty"`
	EchoBytes int          `json:"echo_bytes,omitempty"`
	Limit     *LimitReport `json:"limit"`
	HolePunch *PunchReport `json:"holepunch,omitempty"`
	Expires   *time.Time   `json:"reservation_expires,omitempty"`
	Steps     []string     `json:"-"`
	started   time.Time
}

// LimitReport is the relay's announced circuit limit; nil = unlimited.
type LimitReport struct {
	DurationSeconds uint32 `json:"duration_seconds"`
	DataBytes       uint64 `json:"data_bytes"`
}

// PunchReport is a hole punch's outcome.
type PunchReport struct {
	Direct       bool     `json:"direct"`
	Transport    string   `json:"transport,omitempty"`
	Attempts     int      `json:"attempts"`
	TimeToDirect *Seconds `json:"time_to_direct_seconds,omitempty"`
	RTT          *Seconds `json:"rtt_seconds,omitempty"`
	RemoteAddr   string   `json:"remote_addr,omitempty"`
	DirectEcho   bool     `json:"direct_echo"`
	// RelayedEchoAfter: after a failed punch, the circuit still carried
	// an echo (the relayed connection outlives a failed punch).
	RelayedEchoAfter bool   `json:"relayed_echo_after,omitempty"`
	Error            string `json:"error,omitempty"`
}

// Seconds is a duration that marshals as seconds.
type Seconds float64

func secs(d time.Duration) *Seconds { s := Seconds(d.Seconds()); return &s }

// Duration is s as a time.Duration.
func (s *Seconds) Duration() time.Duration {
	if s == nil {
		return 0
	}
	return time.Duration(float64(*s) * float64(time.Second))
}

func limitReport(l *wire.Limit) *LimitReport {
	if l == nil {
		return nil
	}
	return &LimitReport{DurationSeconds: l.Duration, DataBytes: l.Data}
}

func (r *Report) fail(err error) *Report {
	r.OK, r.Error = false, err.Error()
	return r
}

// Run probes a relay with two peers in this process: the listener
// reserves, the dialer connects through the circuit, bytes are echoed,
// and with HolePunch the two run DCUtR.
func Run(ctx context.Context, o Options) *Report {
	o = o.withDefaults()
	r := &Report{Role: "both"}
	l, err := startListener(ctx, o, r)
	if err != nil {
		return r.fail(err)
	}
	defer l.Close()
	d, err := NewPeer(ctx, o.Peer)
	if err != nil {
		return r.fail(fmt.Errorf("dialer peer: %w", err))
	}
	defer d.Close()
	r.Remote = d.ID().String()
	start := time.Now()
	dc, lim, err := d.Connect(ctx, l.ID())
	if err != nil {
		return r.fail(fmt.Errorf("connect: %w", err))
	}
	r.Connect, r.Limit = secs(time.Since(start)), limitReport(lim)
	lc, err := l.Circuit(ctx)
	if err != nil {
		return r.fail(err)
	}
	if err := echo(ctx, dc, o.EchoBytes, r); err != nil {
		return r.fail(err)
	}
	if !o.HolePunch {
		r.OK = true
		return r
	}
	res := l.HolePunch(ctx, lc)
	r.HolePunch = punchReport(res, time.Since(start))
	if res.Conn != nil {
		// The dialer's view: its direct connection to the listener.
		if c, err := d.EchoDirect(ctx, l.ID(), o.EchoBytes); err == nil {
			r.HolePunch.DirectEcho, r.HolePunch.Transport = true, c.Transport()
		} else {
			r.HolePunch.Error = err.Error()
		}
	}
	if !r.HolePunch.Direct || !r.HolePunch.DirectEcho {
		return r.fail(errors.New("no direct connection: " + r.HolePunch.Error))
	}
	r.OK = true
	return r
}

func (o Options) withDefaults() Options {
	if o.EchoBytes <= 0 {
		o.EchoBytes = 1024
	}
	return o
}

// startListener is the listener peer with its reservation, both recorded
// in r.
func startListener(ctx context.Context, o Options, r *Report) (*Peer, error) {
	l, err := NewPeer(ctx, o.Peer)
	if err != nil {
		return nil, fmt.Errorf("listener peer: %w", err)
	}
	r.Peer = l.ID().String()
	if err := reserve(ctx, l, r); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func reserve(ctx context.Context, l *Peer, r *Report) error {
	start := time.Now()
	info, err := l.Reserve(ctx)
	if err != nil {
		return fmt.Errorf("reserve: %w", err)
	}
	r.Reserve, r.Limit = secs(time.Since(start)), limitReport(info.Limit)
	exp := info.Expire.UTC()
	r.Expires = &exp
	for _, a := range l.Observed() {
		r.Observed = append(r.Observed, a.String())
	}
	return nil
}

func echo(ctx context.Context, c *host.Conn, size int, r *Report) error {
	start := time.Now()
	if err := Echo(ctx, c, size); err != nil {
		return fmt.Errorf("echo through the circuit: %w", err)
	}
	r.Echo, r.EchoBytes = secs(time.Since(start)), size
	return nil
}

func punchReport(res dcutr.Result, since time.Duration) *PunchReport {
	p := &PunchReport{Attempts: res.Attempts}
	if res.RTT > 0 {
		p.RTT = secs(res.RTT)
	}
	if res.Err != nil {
		p.Error = res.Err.Error()
	}
	if res.Conn != nil {
		p.Direct, p.Transport = true, res.Conn.Transport()
		p.TimeToDirect = secs(since)
		p.RemoteAddr = res.Conn.RemoteMultiaddr().String()
	}
	return p
}

// RunListener is the split mode's listener: reserve, announce our ID
// through ready, accept one circuit, serve the echo, and (HolePunch) run
// DCUtR as the listener, then echo over the direct connection.
func RunListener(ctx context.Context, o Options, ready func(id identity.PeerID)) *Report {
	o = o.withDefaults()
	r := &Report{Role: "listener"}
	l, err := startListener(ctx, o, r)
	if err != nil {
		return r.fail(err)
	}
	defer l.Close()
	ready(l.ID())
	c, err := l.Circuit(ctx)
	if err != nil {
		return r.fail(err)
	}
	start := time.Now()
	r.Remote = c.RemotePeer().String()
	if !o.HolePunch {
		// The dialer echoes; wait until it hangs up.
		select {
		case <-c.Done():
		case <-ctx.Done():
		}
		r.OK = true
		return r
	}
	res := l.HolePunch(ctx, c)
	r.HolePunch = punchReport(res, time.Since(start))
	if res.Conn != nil {
		if dc, err := l.EchoDirect(ctx, c.RemotePeer(), o.EchoBytes); err == nil {
			r.HolePunch.DirectEcho, r.HolePunch.Transport = true, dc.Transport()
			r.HolePunch.RemoteAddr = dc.RemoteMultiaddr().String()
		} else {
			r.HolePunch.Error = err.Error()
		}
		// Stay until the dialer has echoed through us too.
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		l.Echoed(wctx)
		cancel()
	}
	if !r.HolePunch.Direct {
		// The dialer checks the circuit still works: keep it up until it
		// hangs up.
		select {
		case <-c.Done():
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
	if !r.HolePunch.Direct || !r.HolePunch.DirectEcho {
		return r.fail(errors.New("no direct connection: " + r.HolePunch.Error))
	}
	r.OK = true
	return r
}

// RunDialer is the split mode's dialer: connect to target through the
// relay, echo, and (HolePunch) answer the listener's DCUtR until a direct
// connection exists or the listener's attempts are over.
func RunDialer(ctx context.Context, o Options, target identity.PeerID) *Report {
	o = o.withDefaults()
	r := &Report{Role: "dialer", Remote: target.String()}
	d, err := NewPeer(ctx, o.Peer)
	if err != nil {
		return r.fail(fmt.Errorf("dialer peer: %w", err))
	}
	defer d.Close()
	r.Peer = d.ID().String()
	for _, a := range d.Observed() {
		r.Observed = append(r.Observed, a.String())
	}
	start := time.Now()
	c, lim, err := d.Connect(ctx, target)
	if err != nil {
		return r.fail(fmt.Errorf("connect: %w", err))
	}
	r.Connect, r.Limit = secs(time.Since(start)), limitReport(lim)
	if err := echo(ctx, c, o.EchoBytes, r); err != nil {
		return r.fail(err)
	}
	if !o.HolePunch {
		c.Close()
		r.OK = true
		return r
	}
	p := &PunchReport{}
	r.HolePunch = p
	attempts := dcutr.Config(o.Peer.DCUtR).Attempts
	if attempts <= 0 {
		attempts = dcutr.DefaultAttempts
	}
	for p.Attempts < attempts {
		res, err := d.Answered(ctx)
		if err != nil {
			p.Error = fmt.Sprintf("waiting for the listener's DCUtR: %v", err)
			break
		}
		p.Attempts++
		if res.Err != nil {
			p.Error = res.Err.Error()
		}
		if res.Conn != nil || res.Err == nil {
			break
		}
	}
	if direct, err := d.EchoDirect(ctx, target, o.EchoBytes); err == nil {
		p.Direct, p.DirectEcho, p.Transport, p.Error = true, true, direct.Transport(), ""
		p.TimeToDirect = secs(time.Since(start))
		p.RemoteAddr = direct.RemoteMultiaddr().String()
		// The listener echoes to us too: stay until it has, then hang up.
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		d.Echoed(wctx)
		cancel()
	} else if p.Error == "" {
		p.Error = err.Error()
	}
	if !p.Direct {
		p.RelayedEchoAfter = Echo(ctx, c, o.EchoBytes) == nil
	}
	if !p.Direct || !p.DirectEcho {
		return r.fail(errors.New("no direct connection: " + p.Error))
	}
	r.OK = true
	return r
}
