package interop

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// tcpForwarder is the plainest relay there is: it copies bytes between each
// accepted connection and a new one to target, with no crypto, no muxer and
// no protocol. TestCompare times dials through it to show what the extra
// hop alone costs a circuit's setup on this box, which any relay pays.
type tcpForwarder struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func startTCPForwarder(t testing.TB, target string) *tcpForwarder {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &tcpForwarder{ln: ln, target: target}
	f.wg.Go(func() { f.serve(ln) })
	t.Cleanup(f.close)
	return f
}

func (f *tcpForwarder) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp4", f.target)
		if err != nil {
			c.Close()
			continue
		}
		if !f.track(c, up) {
			return
		}
		f.wg.Go(func() { pipe(up, c) })
		f.wg.Go(func() { pipe(c, up) })
	}
}

// track records both ends so close can end their copies; false once the
// forwarder is closed.
func (f *tcpForwarder) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	f.conns = append(f.conns, cs...)
	return true
}

// pipe copies src to dst, then half-closes dst so the far end sees EOF.
func pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && (err == nil || errors.Is(err, net.ErrClosed)) {
		cw.CloseWrite()
		return
	}
	dst.Close()
}

func (f *tcpForwarder) close() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns, f.closed = nil, true
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *tcpForwarder) multiaddr(t testing.TB) ma.Multiaddr {
	t.Helper()
	a, err := manet.FromNetAddr(f.ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// measureForwardedSetup times the direct dials to a once more through a
// tcpForwarder (TCP only: a UDP forwarder would need a mapping per client).
func measureForwardedSetup(t *testing.T, a host.Host, res *compareResult) {
	defer res.timed("forwarded setup dials")()
	var target string
	for _, addr := range a.Addrs() {
		if na, err := manet.ToNetAddr(addr); err == nil && na.Network() == "tcp" {
			target = na.String()
			break
		}
	}
	if target == "" {
		t.Fatalf("no TCP address among %v", a.Addrs())
	}
	f := startTCPForwarder(t, target)
	info := peer.AddrInfo{ID: a.ID(), Addrs: []ma.Multiaddr{f.multiaddr(t)}}
	samples := make([]time.Duration, 0, compareDials)
	for i := range compareDials {
		b, closeB := mustCompareHost(t, "tcp", clientListenAddr("tcp", compareReservationsMax+i))
		d, err := timedRoundTrip(t, b, info)
		closeB()
		if err != nil {
			t.Fatalf("forwarded dial %d: %v", i, err)
		}
		samples = append(samples, d)
	}
	slices.Sort(samples)
	res.forwardedSetupP50 = samples[len(samples)/2]
}

// TestTCPForwarder: bytes go through both ways, and each side's EOF
// reaches the other.
func TestTCPForwarder(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	}()
	f := startTCPForwarder(t, ln.Addr().String())
	c, err := net.Dial("tcp4", f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello" {
		t.Fatalf("read %q, %v; want \"hello\" then EOF", got, err)
	}
}
