package tlsacme_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/pebbletest"
	"github.com/relayd/relayd/relay"
	"github.com/relayd/relayd/relay/relaytest"
	"github.com/relayd/relayd/tlsacme"
)

// waitFor bounds every wait on the CA: pebble answers in well under a
// second, so this is only there to turn a hang into a failure.
const waitFor = 60 * time.Second

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// node is one relay with its ACME manager, as relayd wires them.
type node struct {
	m     *tlsacme.Manager
	r     *relay.Relay
	reg   *prometheus.Registry
	names chan []string
	wss   string // host:port of the /wss listener
}

// startNode runs a relay whose /wss listener is on wssPort (0: any) and
// serves cfg's certificates, and starts the manager with TLS-ALPN-01 on
// that listener when alpn is set.
func startNode(t *testing.T, cfg tlsacme.Config, wssPort int, alpn bool) *node {
	t.Helper()
	n := &node{reg: prometheus.NewRegistry(), names: make(chan []string, 8)}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	cfg.Metrics = n.reg
	cfg.OnNames = func(names []string) { n.names <- names }
	m, err := tlsacme.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.m = m
	t.Cleanup(func() { m.Close() })
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	r := relaytest.Start(t, relay.Config{
		Key: key,
		Listen: []ma.Multiaddr{
			ma.StringCast("/ip4/127.0.0.1/tcp/0"),
			ma.StringCast("/ip4/127.0.0.1/tcp/" + strconv.Itoa(wssPort) + "/wss"),
		},
		TLSConfig: m.TLSConfig(),
		Logger:    testLogger(t),
	})
	n.r = r
	for _, a := range r.Host().ListenAddrs() {
		if strings.HasSuffix(a.String(), "/wss") {
			n.wss = hostPort(t, a)
		}
	}
	tlsALPN := ""
	if alpn {
		tlsALPN = n.wss
	}
	if err := m.Start(tlsALPN); err != nil {
		t.Fatal(err)
	}
	return n
}

func hostPort(t *testing.T, a ma.Multiaddr) string {
	t.Helper()
	ip, err := a.ValueForProtocol(ma.P_IP4)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := a.ValueForProtocol(ma.P_TCP)
	return net.JoinHostPort(ip, port)
}

// waitNames waits until the manager reports a certificate for domain and
// wires the announcement the way relayd does.
func (n *node) waitNames(t *testing.T, domain string) {
	t.Helper()
	select {
	case names := <-n.names:
		if len(names) != 1 || names[0] != domain {
			t.Fatalf("OnNames(%q), want [%s]", names, domain)
		}
		n.r.AnnounceTLSNames(names)
	case <-time.After(waitFor):
		t.Fatalf("no certificate for %s after %s; pending: %q", domain, waitFor, n.m.Status())
	}
}

// served makes a new TLS connection to addr for domain, verifying the
// chain against roots, and returns the certificate served.
func served(t *testing.T, addr, domain string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	d := &tls.Dialer{Config: &tls.Config{ServerName: domain, RootCAs: roots, NextProtos: []string{"http/1.1"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS to %s for %s: %v", addr, domain, err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0]
}

func baseConfig(t *testing.T, ca *pebbletest.Server, domain string) tlsacme.Config {
	return tlsacme.Config{
		Domains:    []string{domain},
		Email:      "ops@relayd.test",
		CA:         ca.Directory,
		CARootFile: ca.CARootFile,
		StorageDir: t.TempDir(),
		RetryMin:   200 * time.Millisecond,
		RetryMax:   time.Second,
	}
}

// TestObtainTLSALPN: the /wss listener answers TLS-ALPN-01 itself, then
// serves the certificate, which chains to pebble's root; the DNS /wss
// addresses appear in the relay's addresses and the expiry metric is set.
func TestObtainTLSALPN(t *testing.T) {
	leakcheck.Check(t)
	ca := pebbletest.Start(t, pebbletest.Options{})
	const domain = "alpn.relayd.test"
	n := startNode(t, baseConfig(t, ca, domain), ca.TLSPort, true)
	n.waitNames(t, domain)

	cert := served(t, n.wss, domain, ca.IssuerRoots())
	if cert.Subject.CommonName != domain && (len(cert.DNSNames) != 1 || cert.DNSNames[0] != domain) {
		t.Errorf("served certificate names %v, want %s", cert.DNSNames, domain)
	}
	port := strconv.Itoa(ca.TLSPort)
	var addrs string
	for _, a := range n.r.Addrs() {
		addrs += a.String() + " "
	}
	for _, want := range []string{"/dns4/" + domain + "/tcp/" + port + "/tls/ws/p2p/", "/dns4/" + domain + "/tcp/" + port + "/wss/p2p/"} {
		if !strings.Contains(addrs, want) {
			t.Errorf("relay addresses %s lack %s", addrs, want)
		}
	}
	if got := expiry(t, n.reg, domain); got != float64(cert.NotAfter.Unix()) {
		t.Errorf("expiry metric = %v, want %d", got, cert.NotAfter.Unix())
	}
	if got := countOf(t, n.reg, "relayd_tls_obtains_total", "success"); got != 1 {
		t.Errorf("obtains success = %v, want 1", got)
	}
	if len(n.m.Status()) != 0 {
		t.Errorf("Status() = %q with the certificate held", n.m.Status())
	}
}

// TestObtainHTTP01: with --acme-http-listen on pebble's HTTP port and no
// TLS-ALPN listener, HTTP-01 gets the certificate.
func TestObtainHTTP01(t *testing.T) {
	leakcheck.Check(t)
	ca := pebbletest.Start(t, pebbletest.Options{})
	const domain = "http.relayd.test"
	cfg := baseConfig(t, ca, domain)
	cfg.HTTPListen = "127.0.0.1:" + strconv.Itoa(ca.HTTPPort)
	n := startNode(t, cfg, 0, false)
	n.waitNames(t, domain)
	served(t, n.wss, domain, ca.IssuerRoots())
}
