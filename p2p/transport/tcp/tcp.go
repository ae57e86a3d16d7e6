package tcp

import (
	"context"
	"fmt"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport"
)

// Transport is the TCP transport. The zero value is ready to use.
type Transport struct {
	reuse *ports // set by NewReusing
}

var _ transport.Transport = Transport{}

// New returns the TCP transport.
func New() Transport { return Transport{} }

// Handles accepts exactly <ip4|ip6|dns|dns4|dns6>/tcp/<port>.
func (Transport) Handles(addr ma.Multiaddr) bool {
	if len(addr) != 2 || addr[1].Code() != ma.P_TCP {
		return false
	}
	switch addr[0].Code() {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
		return true
	}
	return false
}

// Listen binds addr.
func (t Transport) Listen(addr ma.Multiaddr, _ transport.ListenConfig) (transport.Listener, error) {
	if t.reuse != nil && reuseAvailable {
		return t.listenReusing(addr)
	}
	l, err := manet.Listen(addr)
	if err != nil {
		return nil, err
	}
	return listener{l}, nil
}

// Dial opens a TCP connection; the host authenticates the peer.
func (t Transport) Dial(ctx context.Context, addr ma.Multiaddr, _ identity.PeerID) (transport.Conn, error) {
	if t.reuse != nil && reuseAvailable {
		c, err := t.dialReusing(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("tcp dial: %w", err)
		}
		return c, nil
	}
	var d manet.Dialer
	c, err := d.DialContext(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("tcp dial: %w", err)
	}
	return c, nil
}

// Close does nothing: TCP holds no shared state.
func (Transport) Close() error { return nil }

type listener struct {
	manet.Listener
}

func (l listener) Accept() (transport.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return c, nil
}
