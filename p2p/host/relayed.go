package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport"
)

// Pipe is a byte stream the host can upgrade: a circuit's hop or stop
// stream (a *Stream), or any net.Conn.
type Pipe interface {
	io.Reader
	io.Writer
	Close() error
	SetDeadline(time.Time) error
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// CircuitLabel is the transport label of relayed connections.
const CircuitLabel = "circuit"

// UpgradeRelayed runs the libp2p upgrade (multistream → Noise → yamux)
// over p, a circuit through relay to remote, and serves the resulting
// connection like any other: Relayed() is true, its addresses are
// /p2p/<relay>/p2p-circuit. The peer that opened the circuit (hop CONNECT)
// is the initiator (dialer true); the peer that accepted it (stop) is the
// responder and checks that Noise proves remote, the peer the relay named.
// The host owns p from here on, also on error.
func (h *Host) UpgradeRelayed(ctx context.Context, p Pipe, relay, remote identity.PeerID, dialer bool) (*Conn, error) {
	start := time.Now()
	addr := ma.StringCast("/p2p/" + relay.String() + "/p2p-circuit")
	raw := &pipeConn{Pipe: p, addr: addr}
	var (
		c   *Conn
		err error
	)
	if dialer {
		c, err = h.upgradeOutbound(ctx, raw, remote, CircuitLabel)
	} else {
		c, err = h.upgradeResponder(ctx, raw, remote, CircuitLabel, true)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("upgrade circuit to %s via %s: %w", remote, relay, err)
	}
	c.relayed = true
	if err := h.run(c, start); err != nil {
		return nil, err
	}
	return c, nil
}

// upgradeResponder is upgradeInbound bounded by ctx too, checking the
// authenticated peer is want (any if empty).
func (h *Host) upgradeResponder(ctx context.Context, raw transport.RawConn, want identity.PeerID, label string, inbound bool) (*Conn, error) {
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := h.upgradeInbound(raw, label)
	if err == nil && ctx.Err() != nil {
		c.Close()
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	if want != "" && c.remotePeer != want {
		c.Close()
		return nil, fmt.Errorf("peer authenticated as %s, want %s", c.remotePeer, want)
	}
	c.inbound = inbound
	return c, nil
}

// pipeConn makes a Pipe a transport.RawConn for the upgrade.
type pipeConn struct {
	Pipe
	addr ma.Multiaddr
}

type circuitAddr string

func (a circuitAddr) Network() string { return CircuitLabel }
func (a circuitAddr) String() string  { return string(a) }

// Close half-closes the circuit (the peer reads EOF) and abandons our read
// side: the muxer waits for its reader to return when it closes, and a
// stream's Close alone would leave that read blocked until the peer closes.
func (c *pipeConn) Close() error {
	err := c.Pipe.Close()
	c.Pipe.SetReadDeadline(time.Unix(1, 0))
	return err
}

func (c *pipeConn) LocalAddr() net.Addr           { return circuitAddr(c.addr.String()) }
func (c *pipeConn) RemoteAddr() net.Addr          { return circuitAddr(c.addr.String()) }
func (c *pipeConn) LocalMultiaddr() ma.Multiaddr  { return c.addr }
func (c *pipeConn) RemoteMultiaddr() ma.Multiaddr { return c.addr }

var errNotRaw = errors.New("the transport authenticated the connection itself; only raw connections can be upgraded as responder")

// DialAsResponder dials addr (a raw transport: TCP) and runs the upgrade as
// the responder, checking the peer is p: the DCUtR listener's side of a TCP
// simultaneous open, where both ends dial and the roles above TCP are fixed
// by the protocol, not by who dialed.
func (h *Host) DialAsResponder(ctx context.Context, addr ma.Multiaddr, p identity.PeerID) (*Conn, error) {
	start := time.Now()
	tc, err := h.dialTransport(ctx, addr, p)
	if err != nil {
		return nil, err
	}
	raw, ok := tc.(transport.RawConn)
	if !ok {
		tc.Close()
		return nil, fmt.Errorf("dial %s: %w", addr, errNotRaw)
	}
	c, err := h.upgradeResponder(ctx, raw, p, transport.Label(addr), false)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if err := h.run(c, start); err != nil {
		return nil, err
	}
	return c, nil
}

// Puncher is a transport that can punch a hole towards an address (QUIC).
type Puncher interface {
	Punch(ctx context.Context, addr ma.Multiaddr) error
}

// Punch has the transport of addr send hole-punching packets to it until
// ctx is done (the QUIC side of DCUtR's listener). An error if that
// transport cannot punch.
func (h *Host) Punch(ctx context.Context, addr ma.Multiaddr) error {
	t, err := h.transportFor(addr)
	if err != nil {
		return fmt.Errorf("punch %s: %w", addr, err)
	}
	p, ok := t.(Puncher)
	if !ok {
		return fmt.Errorf("punch %s: transport cannot punch", addr)
	}
	return p.Punch(ctx, addr)
}

// CanDial reports whether a transport of the host handles addr.
func (h *Host) CanDial(addr ma.Multiaddr) bool {
	_, err := h.transportFor(addr)
	return err == nil
}
