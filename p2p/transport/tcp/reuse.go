package tcp

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/p2p/transport"
)

// ports are the bound listen addresses of a reusing transport.
type ports struct {
	mu    sync.Mutex
	addrs []*net.TCPAddr
}

func (p *ports) add(a *net.TCPAddr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addrs = append(p.addrs, a)
}

func (p *ports) remove(a *net.TCPAddr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addrs = slices.DeleteFunc(p.addrs, func(x *net.TCPAddr) bool { return x == a })
}

// localFor is the listen address a dial to raddr leaves from: same IP
// family, and a loopback listener only for loopback destinations. nil if
// none fits.
func (p *ports) localFor(raddr *net.TCPAddr) *net.TCPAddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	want4 := raddr.IP.To4() != nil
	for _, a := range p.addrs {
		if (a.IP.To4() != nil) != want4 {
			continue
		}
		if a.IP.IsLoopback() && !raddr.IP.IsLoopback() {
			continue
		}
		if !a.IP.IsUnspecified() && !a.IP.IsLoopback() && raddr.IP.IsLoopback() {
			continue
		}
		return a
	}
	return nil
}

// NewReusing returns a TCP transport for clients that listen: its
// listeners set SO_REUSEADDR and SO_REUSEPORT, and its dials leave from a
// listening port when one fits. Peers then see (through a NAT that keeps
// ports) the same address for our dials and our listener, which is what
// identify's observedAddr reports and what a TCP simultaneous open (DCUtR)
// must dial from. Where the platform has no SO_REUSEPORT it behaves like
// New.
func NewReusing() Transport { return Transport{reuse: &ports{}} }

func (t Transport) listenReusing(addr ma.Multiaddr) (transport.Listener, error) {
	network, host, err := manet.DialArgs(addr)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: reuseControl}
	nl, err := lc.Listen(context.Background(), network, host)
	if err != nil {
		return nil, err
	}
	ml, err := manet.WrapNetListener(nl)
	if err != nil {
		nl.Close()
		return nil, err
	}
	bound := nl.Addr().(*net.TCPAddr)
	t.reuse.add(bound)
	return &reusingListener{listener: listener{ml}, ports: t.reuse, bound: bound}, nil
}

type reusingListener struct {
	listener
	ports *ports
	bound *net.TCPAddr
	once  sync.Once
}

func (l *reusingListener) Close() error {
	l.once.Do(func() { l.ports.remove(l.bound) })
	return l.listener.Close()
}

// dialReusing dials from a listening port; if that fails (no listener
// fits, or the 4-tuple is taken) it dials from an ephemeral port.
func (t Transport) dialReusing(ctx context.Context, addr ma.Multiaddr) (transport.Conn, error) {
	na, err := manet.ToNetAddr(addr)
	raddr, ok := na.(*net.TCPAddr)
	if err != nil || !ok {
		var d manet.Dialer
		return d.DialContext(ctx, addr) // a /dns address: resolve as usual
	}
	if laddr := t.reuse.localFor(raddr); laddr != nil {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: laddr.IP, Port: laddr.Port}, Control: reuseControl}
		c, err := d.DialContext(ctx, "tcp", raddr.String())
		if err == nil {
			return manet.WrapNetConn(c)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tcp dial from %s: %w", laddr, err)
		}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", raddr.String())
	if err != nil {
		return nil, err
	}
	return manet.WrapNetConn(c)
}
