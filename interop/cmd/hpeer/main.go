// Command hpeer is a stock go-libp2p peer with hole punching on, for the
// NAT lab (interop/natlab_test.go). It runs one side of one probe through a
// relay and prints JSON lines shaped like `relayd probe --json`:
// {"event":"ready","peer":ID} once a listener has its reservation, then one
// report with ok and holepunch{direct,transport,attempts,...}.
//
//	hpeer --role listener --relay /ip4/…/tcp/4001/p2p/R --transport tcp
//	hpeer --role dialer --target ID --relay … --transport quic
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// echoID is relayd probe's echo protocol, so a probe peer can check the
// direct connection with us.
const echoID = "/relayd/probe/echo/1.0.0"

type punchReport struct {
	Direct       bool     `json:"direct"`
	Transport    string   `json:"transport,omitempty"`
	Attempts     int      `json:"attempts"`
	TimeToDirect *float64 `json:"time_to_direct_seconds,omitempty"`
	RemoteAddr   string   `json:"remote_addr,omitempty"`
	Error        string   `json:"error,omitempty"`
}

type report struct {
	OK        bool         `json:"ok"`
	Error     string       `json:"error,omitempty"`
	Role      string       `json:"role"`
	Peer      string       `json:"peer"`
	HolePunch *punchReport `json:"holepunch,omitempty"`
}

// tracer counts hole-punch rounds and keeps the last error.
type tracer struct {
	mu       sync.Mutex
	attempts int
	ended    int
	err      string
	changed  chan struct{}
}

func (t *tracer) Trace(e *holepunch.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev := e.Evt.(type) {
	case *holepunch.HolePunchAttemptEvt:
		t.attempts++
	case *holepunch.EndHolePunchEvt:
		t.ended++
		if !ev.Success {
			t.err = ev.Error
		}
	case *holepunch.ProtocolErrorEvt:
		t.err = "protocol error: " + ev.Error
		t.ended = 1 << 10
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func (t *tracer) state() (attempts, ended int, err string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.attempts, t.ended, t.err
}

func main() {
	role := flag.String("role", "", "listener or dialer")
	relayAddr := flag.String("relay", "", "relay multiaddr ending in /p2p/<id>")
	target := flag.String("target", "", "listener peer ID (dialer)")
	transport := flag.String("transport", "tcp", "tcp or quic")
	timeout := flag.Duration("timeout", 30*time.Second, "bound on the whole run")
	linger := flag.Duration("linger", 0, "after the punch, stay up to this long for the peer to echo over the direct connection (a relayd probe peer does)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rep := run(ctx, *role, *relayAddr, *target, *transport, *linger)
	json.NewEncoder(os.Stdout).Encode(rep)
	if !rep.OK {
		os.Exit(1)
	}
}

func run(ctx context.Context, role, relayAddr, target, transport string, linger time.Duration) *report {
	rep := &report{Role: role}
	fail := func(err error) *report { rep.Error = err.Error(); return rep }
	relay, err := peer.AddrInfoFromString(relayAddr)
	if err != nil {
		return fail(err)
	}
	tr := &tracer{changed: make(chan struct{}, 1)}
	h, err := newHost(transport, tr)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	rep.Peer = h.ID().String()
	h.SetStreamHandler(echoID, func(s network.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(time.Minute))
		io.Copy(s, s)
	})
	if err := h.Connect(ctx, *relay); err != nil {
		return fail(fmt.Errorf("connect to relay: %w", err))
	}
	// The hole-punch service starts once identify told us a public address.
	if !waitFor(ctx, func() bool { return slices.Contains(h.Mux().Protocols(), holepunch.Protocol) }) {
		return fail(errors.New("hole punching never activated (no public address observed)"))
	}
	var remote peer.ID
	var start time.Time
	switch role {
	case "listener":
		if _, err := client.Reserve(ctx, h, *relay); err != nil {
			return fail(fmt.Errorf("reserve: %w", err))
		}
		json.NewEncoder(os.Stdout).Encode(map[string]string{"event": "ready", "peer": h.ID().String()})
		remote, start, err = awaitCircuit(ctx, h)
		if err != nil {
			return fail(err)
		}
	case "dialer":
		if remote, err = peer.Decode(target); err != nil {
			return fail(err)
		}
		circ := relay.Addrs[0].Encapsulate(ma.StringCast("/p2p/" + relay.ID.String() + "/p2p-circuit"))
		start = time.Now()
		if err := h.Connect(ctx, peer.AddrInfo{ID: remote, Addrs: []ma.Multiaddr{circ}}); err != nil {
			return fail(fmt.Errorf("connect through relay: %w", err))
		}
	default:
		return fail(fmt.Errorf("--role %q: want listener or dialer", role))
	}
	hp := &punchReport{}
	rep.HolePunch = hp
	c := awaitDirect(ctx, h, remote, tr)
	hp.Attempts, _, hp.Error = tr.state()
	if c == nil {
		if hp.Error == "" {
			hp.Error = "no direct connection"
		}
		return fail(errors.New(hp.Error))
	}
	d := time.Since(start).Seconds()
	hp.Direct, hp.TimeToDirect, hp.RemoteAddr, hp.Error = true, &d, c.RemoteMultiaddr().String(), ""
	hp.Transport = "tcp"
	if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_QUIC_V1); err == nil {
		hp.Transport = "quic"
	}
	// A relayd probe peer waits for an echo from us over the direct
	// connection (a go-libp2p peer refuses the protocol at once).
	echoOnce(ctx, h, remote)
	// Give a probe peer on the other side time to echo over the direct
	// connection; it hangs up when done.
	lctx, cancel := context.WithTimeout(ctx, linger)
	defer cancel()
	waitFor(lctx, func() bool { return len(h.Network().ConnsToPeer(remote)) == 0 })
	rep.OK = true
	return rep
}

func echoOnce(ctx context.Context, h host.Host, p peer.ID) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, p, echoID)
	if err != nil {
		return
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("hpeer echo")
	if _, err := s.Write(msg); err != nil {
		return
	}
	io.ReadFull(s, make([]byte, len(msg)))
}

func newHost(transport string, tr holepunch.EventTracer) (host.Host, error) {
	opts := []libp2p.Option{
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(holepunch.WithTracer(tr)),
		libp2p.ForceReachabilityPrivate(),
		libp2p.DisableMetrics(),
	}
	switch transport {
	case "tcp":
		opts = append(opts, libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(noise.ID, noise.New),
			libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/0"))
	case "quic":
		// QUIC brings its own TLS; Noise secures circuits (relayd's
		// probe speaks only Noise).
		opts = append(opts, libp2p.Transport(quic.NewTransport), libp2p.Security(noise.ID, noise.New),
			libp2p.ListenAddrStrings("/ip4/0.0.0.0/udp/0/quic-v1"))
	default:
		return nil, fmt.Errorf("--transport %q: want tcp or quic", transport)
	}
	return libp2p.New(opts...)
}

func isRelayed(c network.Conn) bool {
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// awaitCircuit waits for the first inbound relayed connection.
func awaitCircuit(ctx context.Context, h host.Host) (peer.ID, time.Time, error) {
	got := make(chan peer.ID, 1)
	h.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if isRelayed(c) && c.Stat().Direction == network.DirInbound {
			select {
			case got <- c.RemotePeer():
			default:
			}
		}
	}})
	select {
	case p := <-got:
		return p, time.Now(), nil
	case <-ctx.Done():
		return "", time.Time{}, fmt.Errorf("waiting for a circuit: %w", ctx.Err())
	}
}

// awaitDirect waits for a direct connection to p, or until the punch is
// over: three rounds ended, or a protocol error. A connection that came
// and went already counts: the peer may hang up first.
func awaitDirect(ctx context.Context, h host.Host, p peer.ID, tr *tracer) network.Conn {
	var mu sync.Mutex
	var direct network.Conn
	h.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		mu.Lock()
		defer mu.Unlock()
		if direct == nil && c.RemotePeer() == p && !isRelayed(c) {
			direct = c
		}
	}})
	waitFor(ctx, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range h.Network().ConnsToPeer(p) {
			if direct == nil && !isRelayed(c) {
				direct = c
			}
		}
		_, ended, _ := tr.state()
		return direct != nil || ended >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	return direct
}

// waitFor polls cond every 20 ms until it holds or ctx ends: the host has
// no event for "a protocol handler was registered".
func waitFor(ctx context.Context, cond func() bool) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}
