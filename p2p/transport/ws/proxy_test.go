package ws

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/proxyproto"
)

// proxyServer is a /ws listener whose TCP listener reads PROXY headers
// from trusted sources, as the host wires it.
func proxyServer(t *testing.T, trusted string) (transport.Listener, chan *Conn) {
	t.Helper()
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	pcfg := proxyproto.Config{Trusted: []netip.Prefix{netip.MustParsePrefix(trusted)}, Timeout: 5 * time.Second}
	l, err := tr.Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0/ws"), transport.ListenConfig{
		HandshakeTimeout: 5 * time.Second,
		MaxHandshakes:    8,
		Tracer:           &recorder{},
		Logger:           slog.New(slog.NewTextHandler(t.Output(), nil)),
		WrapListener:     func(l net.Listener) net.Listener { return proxyproto.NewListener(l, pcfg) },
	})
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan *Conn, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c.(*Conn)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l, conns
}

// dialViaBalancer opens a WebSocket whose TCP connection starts with a
// PROXY header naming src, as a load balancer would send it.
func dialViaBalancer(t *testing.T, l transport.Listener, src netip.AddrPort) (*websocket.Conn, error) {
	t.Helper()
	port, _ := l.Multiaddr().ValueForProtocol(ma.P_TCP)
	target := "127.0.0.1:" + port
	d := websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		NetDial: func(_, _ string) (net.Conn, error) {
			c, err := net.Dial("tcp", target)
			if err != nil {
				return nil, err
			}
			h, err := proxyproto.Header(2, src, netip.MustParseAddrPort(target))
			if err == nil {
				_, err = c.Write(h)
			}
			return c, err
		},
	}
	wc, _, err := d.Dial("ws://"+target+"/", nil)
	if err == nil {
		t.Cleanup(func() { wc.Close() })
	}
	return wc, err
}

func TestProxyHeaderGivesClientAddress(t *testing.T) {
	leakcheck.Check(t)
	l, conns := proxyServer(t, "127.0.0.0/8")
	if _, err := dialViaBalancer(t, l, netip.MustParseAddrPort("198.51.100.7:5555")); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-conns:
		defer c.Close()
		if got, want := c.RemoteMultiaddr().String(), "/ip4/198.51.100.7/tcp/5555/ws"; got != want {
			t.Fatalf("remote %s, want %s", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}
}

func TestProxyHeaderFromUntrustedSourceIsDropped(t *testing.T) {
	leakcheck.Check(t)
	l, conns := proxyServer(t, "10.0.0.0/8") // loopback is not trusted
	if _, err := dialViaBalancer(t, l, netip.MustParseAddrPort("198.51.100.7:5555")); err == nil {
		t.Fatal("upgrade succeeded behind an untrusted PROXY header")
	}
	select {
	case c := <-conns:
		c.Close()
		t.Fatal("connection from an untrusted balancer was accepted")
	default:
	}
}
