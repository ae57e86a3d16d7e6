package host_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/proxyproto"
	"github.com/relayd/relayd/p2p/transport/tcp"
	"github.com/relayd/relayd/ratelimit"
)

// refusals records ConnRefused reasons.
type refusals struct {
	host.NopTracer
	mu      sync.Mutex
	reasons map[string]int
}

func (r *refusals) ConnRefused(_, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reasons == nil {
		r.reasons = make(map[string]int)
	}
	r.reasons[reason]++
}

func (r *refusals) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reasons[reason]
}

// tcpHost serves cfg on 127.0.0.1 TCP only, recording refusals.
func tcpHost(t *testing.T, cfg host.Config) (*host.Host, ma.Multiaddr, *refusals) {
	t.Helper()
	rec := &refusals{}
	_, cfg.Key, _ = ed25519.GenerateKey(rand.Reader)
	cfg.Transports = []transport.Transport{tcp.New()}
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Tracer = rec
	h, err := host.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, serveOn(t, h, "/ip4/127.0.0.1/tcp/0")[0], rec
}

// dialer is a client host whose connections come "from" src through a
// PROXY header (src invalid: no header).
func dialer(t *testing.T, src string) *host.Host {
	t.Helper()
	var tr transport.Transport = tcp.New()
	if src != "" {
		tr = proxyproto.DialTransport{Transport: tr, Source: netip.MustParseAddrPort(src)}
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h, err := host.New(host.Config{Key: k, Transports: []transport.Transport{tr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestMaxConnsCountsUntilClose(t *testing.T) {
	leakcheck.Check(t)
	srv, addr, rec := tcpHost(t, host.Config{ConnLimits: host.ConnLimits{MaxConns: 2, ConnRatePerIP: ratelimit.NoRate}})
	a, b, c := dialer(t, ""), dialer(t, ""), dialer(t, "")
	ca, err := a.Dial(ctx10(t), addr, srv.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Dial(ctx10(t), addr, srv.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dial(ctx10(t), addr, srv.ID()); err == nil {
		t.Fatal("third connection accepted over MaxConns 2")
	}
	if rec.count("conn_limit") != 1 {
		t.Fatalf("refusals %v", rec.reasons)
	}
	ca.Close() // the server notices, closes its side and uncounts it
	waitFor(t, func() bool { return srv.InboundConns() == 1 })
	if _, err := c.Dial(ctx10(t), addr, srv.ID()); err != nil {
		t.Fatalf("after a close: %v", err)
	}
	// A reload lowers the cap for new connections; established ones stay.
	srv.ReloadConnLimits(host.ConnLimits{MaxConns: 1, ConnRatePerIP: ratelimit.NoRate})
	if _, err := dialer(t, "").Dial(ctx10(t), addr, srv.ID()); err == nil {
		t.Fatal("connection accepted over the reloaded cap")
	}
	waitFor(t, func() bool { return srv.NumPeers() == 2 }) // b and c stay connected
}

func TestConnRatePerIP(t *testing.T) {
	leakcheck.Check(t)
	srv, addr, rec := tcpHost(t, host.Config{
		ConnLimits:    host.ConnLimits{ConnRatePerIP: ratelimit.Rate{PerSecond: 0.001, Burst: 2}},
		ProxyProtocol: proxyproto.Config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	})
	for i := range 2 {
		if _, err := dialer(t, "").Dial(ctx10(t), addr, srv.ID()); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	if _, err := dialer(t, "").Dial(ctx10(t), addr, srv.ID()); err == nil {
		t.Fatal("third connection from 127.0.0.1 accepted over burst 2")
	}
	// Behind the balancer each client has its own bucket.
	for _, src := range []string{"198.51.100.1:1000", "198.51.100.2:1000", "198.51.100.1:1001"} {
		if _, err := dialer(t, src).Dial(ctx10(t), addr, srv.ID()); err != nil {
			t.Fatalf("client %s: %v", src, err)
		}
	}
	if _, err := dialer(t, "198.51.100.1:1002").Dial(ctx10(t), addr, srv.ID()); err == nil {
		t.Fatal("third connection from 198.51.100.1 accepted over burst 2")
	}
	if got := rec.count("ip_rate"); got != 2 {
		t.Fatalf("ip_rate refusals = %d, want 2 (%v)", got, rec.reasons)
	}
}

func TestProxyProtocol(t *testing.T) {
	leakcheck.Check(t)
	tests := []struct {
		name    string
		trusted string
		src     string
		remote  string // "" = refused
		reason  string
	}{
		{"trusted balancer names the client", "127.0.0.0/8", "203.0.113.7:4242", "/ip4/203.0.113.7/tcp/4242", ""},
		{"trusted source without a header", "127.0.0.0/8", "", "/ip4/127.0.0.1/tcp/", ""},
		{"untrusted source with a header", "10.0.0.0/8", "203.0.113.7:4242", "", "proxy_untrusted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, addr, rec := tcpHost(t, host.Config{ProxyProtocol: proxyproto.Config{
				Trusted: []netip.Prefix{netip.MustParsePrefix(tt.trusted)},
			}})
			cli := dialer(t, tt.src)
			_, err := cli.Dial(ctx10(t), addr, srv.ID())
			if tt.remote == "" {
				if err == nil {
					t.Fatal("connection accepted")
				}
				waitFor(t, func() bool { return rec.count(tt.reason) == 1 })
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return len(srv.ConnsToPeer(cli.ID())) == 1 })
			got := srv.ConnsToPeer(cli.ID())[0].RemoteMultiaddr().String()
			if len(got) < len(tt.remote) || got[:len(tt.remote)] != tt.remote {
				t.Fatalf("remote %s, want %s…", got, tt.remote)
			}
		})
	}
}

// TestHalfOpenConnsShedAndFreed: connections that never speak hold a
// handshake slot and a MaxConns count only until the handshake deadline.
func TestHalfOpenConnsShedAndFreed(t *testing.T) {
	leakcheck.Check(t)
	srv, addr, rec := tcpHost(t, host.Config{
		HandshakeTimeout: 300 * time.Millisecond,
		MaxHandshakes:    4,
		ConnLimits:       host.ConnLimits{MaxConns: 6, ConnRatePerIP: ratelimit.NoRate},
	})
	tcpAddr := "127.0.0.1:" + addr[1].Value()
	var silent []net.Conn
	for range 10 {
		c, err := net.Dial("tcp", tcpAddr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	waitFor(t, func() bool { return rec.count("handshake_limit")+rec.count("conn_limit") == 6 })
	waitFor(t, func() bool { return srv.InboundConns() == 0 }) // the deadline freed the rest
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dialer(t, "").Dial(ctx, addr, srv.ID()); err != nil {
		t.Fatalf("a real client after the flood: %v", err)
	}
}
