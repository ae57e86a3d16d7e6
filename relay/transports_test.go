package relay_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	quicgo "github.com/quic-go/quic-go"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/pbio"
	p2ptls "github.com/relayd/relayd/p2p/tls"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/quic"
	"github.com/relayd/relayd/p2p/transport/tcp"
	"github.com/relayd/relayd/p2p/transport/ws"
	"github.com/relayd/relayd/p2p/transport/ws/wstest"
	"github.com/relayd/relayd/relay"
)

// allListen is one loopback listener per transport, in label order.
var allListen = []string{
	"/ip4/127.0.0.1/tcp/0",
	"/ip4/127.0.0.1/udp/0/quic-v1",
	"/ip4/127.0.0.1/tcp/0/ws",
	"/ip4/127.0.0.1/tcp/0/wss",
}

var (
	certOnce   sync.Once
	sharedCert wstest.Cert
)

// testCert is the /wss certificate every test relay serves and every test
// client trusts (made once: an ECDSA key per test would be wasted time).
func testCert(t testing.TB) wstest.Cert {
	certOnce.Do(func() { sharedCert = wstest.New(t) })
	return sharedCert
}

// clientTransports are a client's transports: all of them, trusting the
// test certificate for /wss.
func clientTransports(t testing.TB, key ed25519.PrivateKey) []transport.Transport {
	t.Helper()
	q, err := quic.New(quic.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	w, err := ws.New(ws.Config{ClientTLSConfig: testCert(t).Client})
	if err != nil {
		t.Fatal(err)
	}
	return []transport.Transport{tcp.New(), q, w}
}

// newMultiRelay runs a relay listening on every transport and returns its
// bound addresses by label.
func newMultiRelay(t testing.TB, cfg relay.Config) (*relay.Relay, map[string]ma.Multiaddr) {
	t.Helper()
	for _, a := range allListen {
		cfg.Listen = append(cfg.Listen, ma.StringCast(a))
	}
	r, _ := newTestRelay(t, cfg)
	addrs := map[string]ma.Multiaddr{}
	for _, a := range r.Host().ListenAddrs() {
		addrs[transport.Label(a)] = a
	}
	if len(addrs) != len(allListen) {
		t.Fatalf("listen addresses %v", r.Host().ListenAddrs())
	}
	return r, addrs
}

var labels = []string{"tcp", "quic", "ws", "wss"}

// TestEveryTransportPair reserves over one transport and connects over
// another (and the same), for every pair, through one relay. One target
// and one client per transport keep the test within the per-IP limits.
func TestEveryTransportPair(t *testing.T) {
	leakcheck.Check(t)
	r, addrs := newMultiRelay(t, relay.Config{})
	targets, clients := map[string]*host.Host{}, map[string]*host.Host{}
	for _, l := range labels {
		targets[l] = echoTarget(t, r, addrs[l])
		clients[l] = newClient(t, r, addrs[l])
		if got := clients[l].ConnsToPeer(r.ID())[0].Transport(); got != l {
			t.Fatalf("client connected over %s, want %s", got, l)
		}
	}
	for _, dst := range labels {
		for _, src := range labels {
			t.Run(src+"→"+dst, func(t *testing.T) {
				st, _, err := circuit.Connect(ctxT(t), clients[src], r.ID(), targets[dst].ID())
				if err != nil {
					t.Fatal(err)
				}
				echo(t, st, 64<<10)
			})
		}
	}
}

func TestReservationListsEveryTransport(t *testing.T) {
	leakcheck.Check(t)
	r, addrs := newMultiRelay(t, relay.Config{})
	for _, label := range labels {
		t.Run(label, func(t *testing.T) {
			c := newClient(t, r, addrs[label])
			info, err := circuit.Reserve(ctxT(t), c, r.ID())
			if err != nil {
				t.Fatal(err)
			}
			self, _ := ma.NewComponent("p2p", r.ID().String())
			for _, want := range addrs {
				if !ma.Contains(info.Addrs, want.Encapsulate(self)) {
					t.Errorf("reservation addrs %v lack %s", info.Addrs, want)
				}
			}
		})
	}
}

func TestAnnouncedWSSHasSNIForm(t *testing.T) {
	leakcheck.Check(t)
	announce := []ma.Multiaddr{
		ma.StringCast("/dns4/relay.example.com/tcp/443/wss"),
		ma.StringCast("/dns4/relay.example.com/udp/4001/quic-v1"),
	}
	r, addr := newTestRelay(t, relay.Config{Announce: announce})
	info, err := circuit.Reserve(ctxT(t), newClient(t, r, addr), r.ID())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range info.Addrs {
		got = append(got, a.String())
	}
	p2p := "/p2p/" + r.ID().String()
	want := []string{
		"/dns4/relay.example.com/tcp/443/wss" + p2p,
		"/dns4/relay.example.com/udp/4001/quic-v1" + p2p,
		"/dns4/relay.example.com/tcp/443/tls/sni/relay.example.com/ws" + p2p,
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("reservation addrs\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestIdentifyObservedAddrPerTransport: identify tells each client the
// address it connected from, in its transport's form.
func TestIdentifyObservedAddrPerTransport(t *testing.T) {
	leakcheck.Check(t)
	r, addrs := newMultiRelay(t, relay.Config{})
	want := map[string]string{"tcp": "ip4/tcp", "quic": "ip4/udp/quic-v1", "ws": "ip4/tcp/ws", "wss": "ip4/tcp/wss"}
	for _, label := range labels {
		t.Run(label, func(t *testing.T) {
			c := newClient(t, r, addrs[label])
			st, err := c.NewStream(ctxT(t), r.ID(), host.IdentifyID)
			if err != nil {
				t.Fatal(err)
			}
			st.SetDeadline(time.Now().Add(10 * time.Second))
			b, err := pbio.ReadDelimited(st, 8<<10)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			id := parseIdentify(t, b)
			local := c.ConnsToPeer(r.ID())[0].LocalMultiaddr()
			if protoNames(id.observed) != want[label] || !id.observed[:2].Equal(local[:2]) {
				t.Fatalf("observedAddr %v, want our %s address %v", id.observed, want[label], local)
			}
			for _, a := range addrs {
				if !ma.Contains(id.listen, a) {
					t.Errorf("listenAddrs %v lack %s", id.listen, a)
				}
			}
		})
	}
}

func protoNames(a ma.Multiaddr) string {
	var names []string
	for _, p := range a.Protocols() {
		names = append(names, p.Name)
	}
	return strings.Join(names, "/")
}

// TestBadTransportInputRefused: each bad connection is refused cleanly,
// and meanwhile the relay keeps serving: circuits across transports on
// established connections, and a new connection on another transport.
func TestBadTransportInputRefused(t *testing.T) {
	leakcheck.Check(t)
	r, addrs := newMultiRelay(t, relay.Config{HandshakeTimeout: 2 * time.Second})
	tests := []struct {
		name string
		bad  func(t *testing.T) error // nil error: the relay served it
		next string                   // transport of the next new client
	}{
		{"QUIC certificate without libp2p extension", func(t *testing.T) error {
			return quicProbe(t, addrs["quic"], func(c *tls.Config) { c.Certificates = []tls.Certificate{plainCert(t)} })
		}, "quic"},
		{"QUIC wrong ALPN", func(t *testing.T) error {
			return quicProbe(t, addrs["quic"], func(c *tls.Config) { c.NextProtos = []string{"h3"} })
		}, "quic"},
		{"QUIC without client certificate", func(t *testing.T) error {
			return quicProbe(t, addrs["quic"], func(c *tls.Config) { c.Certificates = nil })
		}, "tcp"},
		{"WebSocket text frame", func(t *testing.T) error { return wsTextFrame(t, addrs["ws"]) }, "ws"},
		{"HTTP request that is not an upgrade (ws)", func(t *testing.T) error { return plainHTTP(t, "http", addrs["ws"]) }, "ws"},
		{"HTTPS request that is not an upgrade (wss)", func(t *testing.T) error { return plainHTTP(t, "https", addrs["wss"]) }, "wss"},
		{"garbage instead of a TLS handshake (wss)", func(t *testing.T) error { return garbage(t, addrs["wss"]) }, "wss"},
	}
	a, b := echoTarget(t, r, addrs["wss"]), newClient(t, r, addrs["quic"])
	c, d := echoTarget(t, r, addrs["tcp"]), newClient(t, r, addrs["ws"])
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.bad(t); err == nil {
				t.Fatal("the relay served bad input")
			}
			for _, p := range [][2]*host.Host{{b, a}, {d, c}, {newClient(t, r, addrs[tt.next]), a}} {
				st, _, err := circuit.Connect(ctxT(t), p[0], r.ID(), p[1].ID())
				if err != nil {
					t.Fatalf("circuit after bad input: %v", err)
				}
				echo(t, st, 4096)
			}
		})
	}
}

// quicProbe dials with a libp2p TLS config spoiled by spoil; it returns
// nil only if the relay accepted the connection and answered identify.
func quicProbe(t *testing.T, addr ma.Multiaddr, spoil func(*tls.Config)) error {
	t.Helper()
	id, err := p2ptls.NewIdentity(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := id.ConfigForPeer("")
	spoil(conf)
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	qt := &quicgo.Transport{Conn: udp}
	defer func() { qt.Close(); udp.Close() }()
	na, _ := manet.ToNetAddr(addr[:2])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	qc, err := qt.Dial(ctx, na, conf, &quicgo.Config{HandshakeIdleTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer qc.CloseWithError(0, "")
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	st.Write([]byte("\x13/multistream/1.0.0\n"))
	_, err = st.Read(make([]byte, 1))
	return err
}

func plainCert(t *testing.T) tls.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "no libp2p extension"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// wsTextFrame upgrades and sends a text message; the relay must close the
// WebSocket. It returns the close error the client saw.
func wsTextFrame(t *testing.T, addr ma.Multiaddr) error {
	t.Helper()
	na, _ := manet.ToNetAddr(addr[:2])
	wc, resp, err := websocket.DefaultDialer.DialContext(ctxT(t), "ws://"+na.String()+"/", nil)
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	wc.WriteMessage(websocket.TextMessage, []byte("/multistream/1.0.0\n"))
	wc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := wc.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
				t.Errorf("closed with %v, want 1003", err)
			}
			return err
		}
	}
}

// plainHTTP sends an ordinary GET; the relay must answer 426.
func plainHTTP(t *testing.T, scheme string, addr ma.Multiaddr) error {
	t.Helper()
	na, _ := manet.ToNetAddr(addr[:2])
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: testCert(t).Client, DisableKeepAlives: true,
	}}
	resp, err := client.Get(scheme + "://" + na.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("status %d, want 426", resp.StatusCode)
	}
	return fmt.Errorf("status %d", resp.StatusCode)
}

// garbage writes junk where a TLS ClientHello belongs; the relay must
// close the connection.
func garbage(t *testing.T, addr ma.Multiaddr) error {
	t.Helper()
	c := rawDial(t, addr[:2])
	c.Write([]byte("\x13/multistream/1.0.0\n\x07/noise\n"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Error("relay did not close the connection")
			}
			return err
		}
	}
}

func TestStartupErrorsNameTheListener(t *testing.T) {
	leakcheck.Check(t)
	busy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	udp, _ := manet.FromNetAddr(busy.LocalAddr())
	busyQUIC := append(udp, ma.StringCast("/quic-v1")...)
	tests := []struct {
		name   string
		listen []ma.Multiaddr
		tls    *tls.Config
	}{
		{"port in use", []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0"), busyQUIC}, nil},
		{"wss without certificate", []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0/wss")}, nil},
		{"unsupported transport", []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/udp/0/quic")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := relay.New(relay.Config{Key: newKey(t), Listen: tt.listen, TLSConfig: tt.tls})
			last := tt.listen[len(tt.listen)-1]
			if err == nil || !strings.Contains(err.Error(), last.String()) {
				t.Fatalf("err = %v, want an error naming %s", err, last)
			}
		})
	}
}
