package host_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/quic"
	"github.com/relayd/relayd/p2p/transport/tcp"
	"github.com/relayd/relayd/p2p/transport/ws"
	"github.com/relayd/relayd/p2p/transport/ws/wstest"
)

// transportCases are one listen address per transport, with the
// protocols of the address the server must observe the client at.
var transportCases = []struct {
	label, listen, observed string
}{
	{"tcp", "/ip4/127.0.0.1/tcp/0", "ip4/tcp"},
	{"quic", "/ip4/127.0.0.1/udp/0/quic-v1", "ip4/udp/quic-v1"},
	{"ws", "/ip4/127.0.0.1/tcp/0/ws", "ip4/tcp/ws"},
	{"wss", "/ip4/127.0.0.1/tcp/0/wss", "ip4/tcp/wss"},
}

// protoNames is "ip4/tcp/ws" for /ip4/1.2.3.4/tcp/1/ws.
func protoNames(a ma.Multiaddr) string {
	var names []string
	for _, p := range a.Protocols() {
		names = append(names, p.Name)
	}
	return strings.Join(names, "/")
}

// allTransports is every transport, trusting cert for /wss both ways.
func allTransports(t *testing.T, key ed25519.PrivateKey, cert wstest.Cert) []transport.Transport {
	t.Helper()
	q, err := quic.New(quic.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	w, err := ws.New(ws.Config{TLSConfig: cert.ServerConfig(), ClientTLSConfig: cert.Client})
	if err != nil {
		t.Fatal(err)
	}
	return []transport.Transport{tcp.New(), q, w}
}

// tracer records refusals per transport.
type tracer struct {
	host.NopTracer
	mu      sync.Mutex
	refused []string
	opened  []string
}

func (r *tracer) ConnRefused(tr, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused = append(r.refused, tr+" "+reason)
}

func (r *tracer) ConnOpened(tr string, inbound bool, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if inbound {
		r.opened = append(r.opened, tr)
	}
}

func (r *tracer) has(list *[]string, e string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range *list {
		if x == e {
			return true
		}
	}
	return false
}

func newTransportHost(t *testing.T, cert wstest.Cert, cfg host.Config) *host.Host {
	t.Helper()
	_, cfg.Key, _ = ed25519.GenerateKey(rand.Reader)
	cfg.Transports = allTransports(t, cfg.Key, cert)
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	h, err := host.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// serveOn listens on every address and serves until the test ends.
func serveOn(t *testing.T, h *host.Host, addrs ...string) []ma.Multiaddr {
	t.Helper()
	var out []ma.Multiaddr
	for _, a := range addrs {
		bound, err := h.Listen(ma.StringCast(a))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bound)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

func TestEveryTransportStreamsBothWays(t *testing.T) {
	cert := wstest.New(t)
	for _, tc := range transportCases {
		t.Run(tc.label, func(t *testing.T) {
			leakcheck.Check(t)
			tr := &tracer{}
			srv := newTransportHost(t, cert, host.Config{Tracer: tr})
			addr := serveOn(t, srv, tc.listen)[0]
			if transport.Label(addr) != tc.label {
				t.Fatalf("bound %s, label %q", addr, transport.Label(addr))
			}
			cli := newTransportHost(t, cert, host.Config{})
			const proto = "/test/echo/1"
			echo := func(s *host.Stream) { defer s.Close(); copyAll(s) }
			srv.Handle(proto, echo)
			cli.Handle(proto, echo)
			c, err := cli.Dial(ctx10(t), addr, srv.ID())
			if err != nil {
				t.Fatal(err)
			}
			if c.Transport() != tc.label || c.Inbound() {
				t.Fatalf("client conn: transport %q inbound %v", c.Transport(), c.Inbound())
			}
			roundTrip(t, cli, srv.ID(), proto)
			waitFor(t, func() bool { return len(srv.ConnsToPeer(cli.ID())) == 1 })
			roundTrip(t, srv, cli.ID(), proto)

			sc := srv.ConnsToPeer(cli.ID())[0]
			if sc.Transport() != tc.label || !sc.Inbound() {
				t.Fatalf("server conn: transport %q inbound %v", sc.Transport(), sc.Inbound())
			}
			obs := sc.RemoteMultiaddr()
			if protoNames(obs) != tc.observed || !obs[:2].Equal(c.LocalMultiaddr()[:2]) {
				t.Fatalf("server observes %s; client is at %s", obs, c.LocalMultiaddr())
			}
			if !tr.has(&tr.opened, tc.label) {
				t.Fatal("ConnOpened not traced with the transport label")
			}
		})
	}
}

func copyAll(s *host.Stream) {
	buf := make([]byte, 4096)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			s.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func TestDialWrongPeerFailsOnEveryTransport(t *testing.T) {
	cert := wstest.New(t)
	for _, tc := range transportCases {
		t.Run(tc.label, func(t *testing.T) {
			leakcheck.Check(t)
			srv := newTransportHost(t, cert, host.Config{})
			addr := serveOn(t, srv, tc.listen)[0]
			cli := newTransportHost(t, cert, host.Config{})
			other := newTransportHost(t, cert, host.Config{})
			if _, err := cli.Dial(ctx10(t), addr, other.ID()); err == nil {
				t.Fatal("dial to the wrong peer succeeded")
			}
			if cli.NumPeers() != 0 {
				t.Fatal("a failed dial left a connection")
			}
		})
	}
}

func TestListenErrorsNameTheAddress(t *testing.T) {
	leakcheck.Check(t)
	cert := wstest.New(t)
	h := newTransportHost(t, cert, host.Config{})
	busyTCP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyTCP.Close()
	busyUDP, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busyUDP.Close()
	tcpAddr, _ := manet.FromNetAddr(busyTCP.Addr())
	udpAddr, _ := manet.FromNetAddr(busyUDP.LocalAddr())
	for _, a := range []ma.Multiaddr{
		tcpAddr,
		append(tcpAddr, ma.StringCast("/ws")...),
		append(tcpAddr, ma.StringCast("/wss")...),
		append(udpAddr, ma.StringCast("/quic-v1")...),
		ma.StringCast("/ip4/127.0.0.1/udp/0/quic"),
		ma.StringCast("/ip4/127.0.0.1/udp/0/webrtc-direct"),
	} {
		_, err := h.Listen(a)
		if err == nil || !strings.Contains(err.Error(), a.String()) {
			t.Errorf("Listen(%s) = %v, want an error naming it", a, err)
		}
	}
	if _, err := h.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0/quic")); !errors.Is(err, transport.ErrUnsupported) {
		t.Errorf("draft QUIC: %v, want ErrUnsupported", err)
	}
}

// TestHandshakeSlotsPerListener: a stalled TCP handshake holds TCP's only
// slot, yet QUIC and WebSocket peers still connect.
func TestHandshakeSlotsPerListener(t *testing.T) {
	leakcheck.Check(t)
	cert := wstest.New(t)
	tr := &tracer{}
	srv := newTransportHost(t, cert, host.Config{MaxHandshakes: 1, Tracer: tr})
	addrs := serveOn(t, srv, "/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0/ws")
	na, _ := manet.ToNetAddr(addrs[0])
	stalled, err := net.Dial("tcp", na.String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	// A second raw TCP connection is refused once the first holds the
	// slot (retry: the first may not have been accepted yet).
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", na.String())
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err = c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err) && tr.has(&tr.refused, "tcp handshake_limit")
	})
	for _, a := range addrs[1:] {
		cli := newTransportHost(t, cert, host.Config{})
		if _, err := cli.Dial(ctx10(t), a, srv.ID()); err != nil {
			t.Fatalf("dial %s while TCP is saturated: %v", a, err)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fakeTransport "binds" any address it is given without a socket, so
// Addrs' expansion of unspecified addresses can be checked for every
// transport without listening on all interfaces.
type fakeTransport struct{}

func (fakeTransport) Handles(ma.Multiaddr) bool { return true }
func (fakeTransport) Listen(a ma.Multiaddr, _ transport.ListenConfig) (transport.Listener, error) {
	return fakeListener{a, make(chan struct{})}, nil
}
func (fakeTransport) Dial(context.Context, ma.Multiaddr, identity.PeerID) (transport.Conn, error) {
	return nil, errors.New("fake")
}
func (fakeTransport) Close() error { return nil }

type fakeListener struct {
	addr   ma.Multiaddr
	closed chan struct{}
}

func (l fakeListener) Accept() (transport.Conn, error) { <-l.closed; return nil, net.ErrClosed }
func (l fakeListener) Multiaddr() ma.Multiaddr         { return l.addr }
func (l fakeListener) Close() error                    { return nil }

func TestAddrsExpandUnspecifiedForEveryTransport(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	h, err := host.New(host.Config{Key: key, Transports: []transport.Transport{fakeTransport{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	suffixes := []string{"/tcp/4001", "/udp/4001/quic-v1", "/tcp/4002/ws", "/tcp/443/wss"}
	for _, s := range suffixes {
		if _, err := h.Listen(ma.StringCast("/ip4/0.0.0.0" + s)); err != nil {
			t.Fatal(err)
		}
	}
	ifaces, err := manet.InterfaceMultiaddrs()
	if err != nil {
		t.Skip("no interface addresses:", err)
	}
	var v4 []string
	for _, a := range ifaces {
		if a[0].Code() == ma.P_IP4 {
			v4 = append(v4, a.String())
		}
	}
	got := map[string]bool{}
	for _, a := range h.Addrs() {
		if a[0].Code() == ma.P_IP4 && a[0].Value() == "0.0.0.0" {
			t.Fatalf("unspecified address advertised: %s", a)
		}
		got[a.String()] = true
	}
	for _, ip := range v4 {
		for _, s := range suffixes {
			if !got[ip+s] {
				t.Errorf("missing %s%s in %v", ip, s, h.Addrs())
			}
		}
	}
}
