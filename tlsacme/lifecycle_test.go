package tlsacme_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/pebbletest"
	"github.com/relayd/relayd/internal/redistest"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/tcp"
	"github.com/relayd/relayd/p2p/transport/ws"
	"github.com/relayd/relayd/tlsacme"
)

// eventually polls cond (it reads state another goroutine changes on the
// CA's schedule, which no channel reports) until it holds or waitFor.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", waitFor, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wssClient is a libp2p host that dials /wss trusting roots.
func wssClient(t *testing.T, roots *x509.CertPool) *host.Host {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	w, err := ws.New(ws.Config{ClientTLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(host.Config{Key: key, Logger: testLogger(t), Transports: []transport.Transport{tcp.New(), w}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRenewalLive: with 12-second certificates, relayd renews while a WSS
// reservation stays connected; new connections get the new certificate,
// the old connection keeps working, and the metrics follow.
func TestRenewalLive(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: renewal waits for a certificate to age")
	}
	leakcheck.Check(t)
	ca := pebbletest.Start(t, pebbletest.Options{Validity: 12 * time.Second})
	const domain = "renew.relayd.test"
	cfg := baseConfig(t, ca, domain)
	cfg.RenewCheckInterval = 500 * time.Millisecond
	cfg.RenewalWindowRatio = 0.5
	n := startNode(t, cfg, ca.TLSPort, true)
	n.waitNames(t, domain)
	roots := ca.IssuerRoots()
	first := served(t, n.wss, domain, roots)

	c := wssClient(t, roots)
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/" + strconv.Itoa(ca.TLSPort) + "/tls/sni/" + domain + "/ws")
	if _, err := c.Dial(ctxT(t), addr, n.r.ID()); err != nil {
		t.Fatal(err)
	}
	res, err := circuit.Reserve(ctxT(t), c, n.r.ID())
	if err != nil {
		t.Fatal(err)
	}
	wantDNS := "/dns4/" + domain + "/tcp/" + strconv.Itoa(ca.TLSPort) + "/tls/ws"
	if !containsPrefix(res.Addrs, wantDNS) {
		t.Errorf("reservation addresses %v lack %s", res.Addrs, wantDNS)
	}

	var second *x509.Certificate
	eventually(t, "certificate renewed", func() bool {
		second = served(t, n.wss, domain, roots)
		return second.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	if !second.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate expires %s, not after the first's %s", second.NotAfter, first.NotAfter)
	}
	// The reservation's connection was made before the renewal: it is
	// still there, and still serves a refresh.
	if _, err := circuit.Reserve(ctxT(t), c, n.r.ID()); err != nil {
		t.Fatalf("refresh over the connection made before the renewal: %v", err)
	}
	if got := countOf(t, n.reg, "relayd_tls_renewals_total", "success"); got < 1 {
		t.Errorf("renewals success = %v, want >= 1", got)
	}
	eventually(t, "expiry metric follows the renewal", func() bool {
		return expiry(t, n.reg, domain) >= float64(second.NotAfter.Unix())
	})
}

func containsPrefix(addrs []ma.Multiaddr, prefix string) bool {
	for _, a := range addrs {
		if strings.HasPrefix(a.String(), prefix) {
			return true
		}
	}
	return false
}

// TestFleetSharesOneOrder: two nodes on one Redis storage place exactly
// one order between them and both serve the certificate. Only node A
// listens on the CA's TLS-ALPN port; whichever node orders, A answers.
func TestFleetSharesOneOrder(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	ca := pebbletest.Start(t, pebbletest.Options{})
	const domain = "fleet.relayd.test"
	nodes := make([]*node, 2)
	for i, port := range []int{ca.TLSPort, 0} {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { rdb.Close() })
		cfg := baseConfig(t, ca, domain)
		cfg.StorageDir = ""
		cfg.Redis = rdb
		nodes[i] = startNode(t, cfg, port, true)
	}
	roots := ca.IssuerRoots()
	var serials []string
	for _, n := range nodes {
		n.waitNames(t, domain)
		serials = append(serials, served(t, n.wss, domain, roots).SerialNumber.String())
	}
	if serials[0] != serials[1] {
		t.Errorf("the nodes serve different certificates: %v", serials)
	}
	if got := ca.Issued(); got != 1 {
		t.Errorf("the CA issued %d certificates, want 1", got)
	}
}

// TestCADownAtStart: the CA is unreachable when relayd starts; the relay
// serves TCP meanwhile, /readyz's status names the pending domain, and
// the certificate arrives once the CA is up.
func TestCADownAtStart(t *testing.T) {
	leakcheck.Check(t)
	ca := pebbletest.New(t, pebbletest.Options{})
	const domain = "late.relayd.test"
	n := startNode(t, baseConfig(t, ca, domain), ca.TLSPort, true)

	eventually(t, "a failed attempt is reported", func() bool {
		st := n.m.Status()
		return len(st) == 1 && strings.Contains(st[0], domain) && strings.Contains(st[0], "last attempt")
	})
	c := wssClient(t, nil)
	if _, err := c.Dial(ctxT(t), n.r.Host().ListenAddrs()[0], n.r.ID()); err != nil {
		t.Fatalf("TCP while the CA is down: %v", err)
	}

	ca.Start()
	n.waitNames(t, domain)
	served(t, n.wss, domain, ca.IssuerRoots())
	if st := n.m.Status(); len(st) != 0 {
		t.Errorf("Status() = %q after the certificate arrived", st)
	}
}

// TestCARefusesOrder: the CA refuses the name; the refusal, with the CA's
// reason, is what Status reports, and the failure is counted.
func TestCARefusesOrder(t *testing.T) {
	leakcheck.Check(t)
	const domain = "refused.relayd.test"
	ca := pebbletest.Start(t, pebbletest.Options{Blocklist: []string{domain}})
	cfg := baseConfig(t, ca, domain)
	logs := &lockedBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(io.MultiWriter(logs, t.Output()), nil))
	n := startNode(t, cfg, ca.TLSPort, true)
	eventually(t, "the refusal is reported", func() bool {
		st := n.m.Status()
		return len(st) == 1 && strings.Contains(st[0], "rejectedIdentifier")
	})
	eventually(t, "the refusal is logged with the CA's reason", func() bool {
		l := logs.String()
		return strings.Contains(l, `"ca_problem":"urn:ietf:params:acme:error:rejectedIdentifier"`) &&
			strings.Contains(l, `"ca_detail":"`) && strings.Contains(l, "forbidden")
	})
	if got := countOf(t, n.reg, "relayd_tls_obtains_total", "failure"); got < 1 {
		t.Errorf("obtains failure = %v, want >= 1", got)
	}
	if names := n.m.Names(); len(names) != 0 {
		t.Errorf("Names() = %q for a refused domain", names)
	}
}

// TestConfigErrors: bad domains and CA URLs fail New with a message
// naming the value.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*tlsacme.Config)
		want   string
	}{
		{"no domain", func(c *tlsacme.Config) { c.Domains = nil }, "no domain"},
		{"IP address", func(c *tlsacme.Config) { c.Domains = []string{"192.0.2.1"} }, `"192.0.2.1": an IP address`},
		{"single label", func(c *tlsacme.Config) { c.Domains = []string{"relay"} }, "two labels"},
		{"empty label", func(c *tlsacme.Config) { c.Domains = []string{"a..example.com"} }, "1 to 63"},
		{"bad character", func(c *tlsacme.Config) { c.Domains = []string{"re_lay.example.com"} }, "invalid character"},
		{"upper case", func(c *tlsacme.Config) { c.Domains = []string{"Relay.example.com"} }, "invalid character"},
		{"wildcard without DNS", func(c *tlsacme.Config) { c.Domains = []string{"*.example.com"} }, "DNS-01"},
		{"CA not https", func(c *tlsacme.Config) { c.CA = "http://acme.example.com/directory" }, "https ACME directory"},
		{"CA not a URL", func(c *tlsacme.Config) { c.CA = "acme-v02.api.letsencrypt.org" }, "https ACME directory"},
		{"CA unparsable", func(c *tlsacme.Config) { c.CA = "https://[::1" }, "CA URL"},
		{"no storage", func(c *tlsacme.Config) { c.StorageDir = "" }, "no storage"},
		{"missing CA root", func(c *tlsacme.Config) { c.CARootFile = "/nonexistent/root.pem" }, "CA root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tlsacme.Config{Domains: []string{"relay.example.com"}, StorageDir: t.TempDir()}
			tc.mutate(&cfg)
			m, err := tlsacme.New(cfg)
			if err == nil {
				m.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line containing %q", err, tc.want)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for a logger and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
