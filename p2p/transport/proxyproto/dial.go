package proxyproto

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	ma "github.com/multiformats/go-multiaddr"
	pp "github.com/pires/go-proxyproto"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport"
)

// Header is a PROXY header of version 1 or 2 naming src as the client of a
// TCP connection to dst.
func Header(version byte, src, dst netip.AddrPort) ([]byte, error) {
	h := pp.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(src), net.TCPAddrFromAddrPort(dst))
	return h.Format()
}

// DialTransport stands in for a load balancer on the dialing side: every
// raw connection Inner dials starts with a PROXY header naming Source. It
// is for tests and probes of a relay behind a balancer.
type DialTransport struct {
	transport.Transport
	Source  netip.AddrPort
	Version byte // 1 or 2; default 2
}

// Dial dials through Inner and writes the header before anything else.
func (t DialTransport) Dial(ctx context.Context, addr ma.Multiaddr, p identity.PeerID) (transport.Conn, error) {
	c, err := t.Transport.Dial(ctx, addr, p)
	if err != nil {
		return nil, err
	}
	raw, ok := c.(transport.RawConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("proxyproto: %s is not a byte stream", addr)
	}
	v := t.Version
	if v == 0 {
		v = 2
	}
	dst := AddrPortOf(raw.RemoteAddr())
	h, err := Header(v, t.Source, netip.AddrPortFrom(dst.Addr(), dst.Port()))
	if err == nil {
		_, err = raw.Write(h)
	}
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("proxyproto: header: %w", err)
	}
	return raw, nil
}
