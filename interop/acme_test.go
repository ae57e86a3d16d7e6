package interop

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
)

// acmeWait bounds waiting for the CA: pebble issues in about a second.
const acmeWait = 60 * time.Second

// pebbleCA is pebble and pebble-challtestsrv (v2.10.1, installed by
// .ci/run into $PEBBLE_BIN) on loopback: challtestsrv answers every A query
// with 127.0.0.1, and pebble validates TLS-ALPN-01 on 127.0.0.1:tlsPort.
// The main module's internal/pebbletest does the same for unit tests; this
// module cannot import it.
type pebbleCA struct {
	dir, mgmt string
	tlsPort   int
	client    *http.Client
}

// startPebble runs the CA with its HTTPS served from ca's localhost
// certificate, and waits for its directory.
func startPebble(t *testing.T, ca *testCA) *pebbleCA {
	t.Helper()
	bin := pebbleBinaries(t)
	dir := t.TempDir()
	p := &pebbleCA{
		mgmt: "127.0.0.1:" + strconv.Itoa(freeTCPPort(t)), tlsPort: freeTCPPort(t),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}},
	}
	listen := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	p.dir = "https://" + listen + "/dir"
	dnsAddr := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": p.mgmt,
		"certificate": ca.CertFile, "privateKey": ca.KeyFile,
		"httpPort": freeTCPPort(t), "tlsPort": p.tlsPort,
		"retryAfter": map[string]int{"authz": 1, "order": 1}, "keyAlgorithm": "ecdsa",
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, dir, bin+"/pebble-challtestsrv", "-dnsserver", dnsAddr, "-management", "127.0.0.1:"+strconv.Itoa(freeTCPPort(t)),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	runTool(t, dir, bin+"/pebble", "-config", cfgFile, "-dnsserver", dnsAddr)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := p.client.Get(p.dir)
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pebbleBinaries is the directory holding both tools: $PEBBLE_BIN, else
// $(go env GOPATH)/bin. Missing tools skip the test, or fail it in CI.
func pebbleBinaries(t *testing.T) string {
	t.Helper()
	dirs := []string{os.Getenv("PEBBLE_BIN")}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(strings.TrimSpace(string(out)), "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "pebble-challtestsrv")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "pebble")); err == nil {
				return d
			}
		}
	}
	msg := "pebble not found: go install github.com/letsencrypt/pebble/v2/cmd/{pebble,pebble-challtestsrv}@v2.10.1 (.ci/run does)"
	if inCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// runTool runs a CA process until the test ends, logging into dir.
func runTool(t *testing.T, dir, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, filepath.Base(bin)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PEBBLE_") { // no PEBBLE_VA_ALWAYS_VALID from outside
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s:\n%s", filepath.Base(bin), b)
		}
	})
}

// rootPEM fetches the root pebble issues under from its management API.
func (p *pebbleCA) rootPEM(t *testing.T) []byte {
	t.Helper()
	resp, err := p.client.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		t.Fatalf("pebble root is not PEM: %q", b)
	}
	return b
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitCertificate waits until addr serves a certificate for domain that
// chains to roots.
func waitCertificate(t *testing.T, r *relayProc, addr, domain string, roots *x509.CertPool) {
	t.Helper()
	deadline := time.Now().Add(acmeWait)
	conf := &tls.Config{ServerName: domain, RootCAs: roots, NextProtos: []string{"http/1.1"}}
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) || r.Exited() {
			t.Fatalf("no certificate for %s on %s: %v", domain, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// acmeRelay is relayd holding a certificate for domain from pebble.
type acmeRelay struct {
	*relayProc
	port     string // the /wss listener's, which is pebble's TLS-ALPN port
	roots    *x509.CertPool
	rootFile string // pebble's issuing root, PEM
}

const acmeDomain = "interop.relayd.test"

// startACMERelay runs pebble and relayd with --acme-domain, and waits until
// relayd serves the certificate and announces its DNS /wss address.
func startACMERelay(t *testing.T) *acmeRelay {
	t.Helper()
	https := newTestCA(t) // pebble's own HTTPS, which relayd trusts by --acme-ca-root
	ca := startPebble(t, https)
	port := strconv.Itoa(ca.tlsPort)
	r := startRelayOn(t, kindRelayd, []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/" + port + "/wss"},
		append(relaxedQuotas(), "--acme-domain", acmeDomain, "--acme-ca", ca.dir,
			"--acme-ca-root", https.CAFile, "--acme-storage", t.TempDir())...)
	pem := ca.rootPEM(t)
	a := &acmeRelay{relayProc: r, port: port, roots: x509.NewCertPool(), rootFile: filepath.Join(t.TempDir(), "pebble-root.pem")}
	a.roots.AppendCertsFromPEM(pem)
	if err := os.WriteFile(a.rootFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	waitCertificate(t, r, "127.0.0.1:"+port, acmeDomain, a.roots)
	a.waitAnnounced(t)
	return a
}

// dnsWSS is the address relayd announces once it holds the certificate.
func (a *acmeRelay) dnsWSS() string {
	return fmt.Sprintf("/dns4/%s/tcp/%s/tls/ws/p2p/%s", acmeDomain, a.port, a.Info.ID)
}

// waitAnnounced reserves over TCP until the reservation lists dnsWSS: the
// names are announced just after the certificate is first served.
func (a *acmeRelay) waitAnnounced(t *testing.T) {
	t.Helper()
	h := newHost(t)
	deadline := time.Now().Add(acmeWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		rsvp, err := client.Reserve(ctx, h, a.Info)
		cancel()
		if err != nil {
			t.Fatalf("Reserve over TCP: %v", err)
		}
		for _, x := range rsvp.Addrs {
			if x.String() == a.dnsWSS() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("reservation addrs %v never listed %s", rsvp.Addrs, a.dnsWSS())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestACMEWSS: relayd gets a certificate from pebble by TLS-ALPN-01 on its
// /wss listener; a stock go-libp2p node dials
// /ip4/127.0.0.1/tcp/<port>/tls/sni/<domain>/ws/p2p/<relay>, verifying the
// chain against pebble's root, reserves (the reservation lists the DNS
// /wss address), and another node reaches it through the relay.
func TestACMEWSS(t *testing.T) {
	runRelaydOnly(t, func(t *testing.T) {
		r := startACMERelay(t)
		a := newHost(t, libp2p.Transport(websocket.New, websocket.WithTLSClientConfig(&tls.Config{RootCAs: r.roots})))
		a.SetStreamHandler(echoProto, handleEcho)
		wss := ma.StringCast("/ip4/127.0.0.1/tcp/" + r.port + "/tls/sni/" + acmeDomain + "/ws")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		rsvp, err := client.Reserve(ctx, a, peer.AddrInfo{ID: r.Info.ID, Addrs: []ma.Multiaddr{wss}})
		if err != nil {
			t.Fatalf("Reserve over %s: %v", wss, err)
		}
		checkConnTransport(t, a, r.Info.ID, "wss")
		if !slices.ContainsFunc(rsvp.Addrs, func(x ma.Multiaddr) bool { return x.String() == r.dnsWSS() }) {
			t.Errorf("reservation addrs %v lack %s", rsvp.Addrs, r.dnsWSS())
		}

		b := newHost(t)
		dialCircuit(t, b, r.relayProc, a.ID())
		res, err := echo(limitedCtx(t, 20*time.Second), b, a.ID(), []byte("through a relay with an ACME certificate"))
		if err != nil || res.readErr != nil || res.echoed != res.sent {
			t.Fatalf("echo through the relay: %+v, %v", res, err)
		}
	})
}

// TestACMEBrowser: headless Chromium, trusting only pebble's root (and
// resolving the test domain to 127.0.0.1), opens wss://<domain>:<port> to
// relayd's ACME certificate, reserves, and a go-libp2p node reaches the
// browser through the relay.
func TestACMEBrowser(t *testing.T) {
	requireTools(t, "node", "npm", chromiumPath(), "certutil")
	prepareJS(t)
	runRelaydOnly(t, func(t *testing.T) {
		r := startACMERelay(t)
		relayAddr := ma.StringCast(fmt.Sprintf("/dns4/%s/tcp/%s/wss", acmeDomain, r.port)).Encapsulate(p2pComponent(r.Info.ID))
		p := startJSPeer(t, "src/chromium.js", relayAddr, "RELAYD_INTEROP_CA="+r.rootFile,
			"RELAYD_INTEROP_HOST_RULES=MAP "+acmeDomain+" 127.0.0.1")
		target, _ := checkListening(t, p.await(t, "listening", jsStartTimeout), relayAddr)
		b := newHost(t)
		b.SetStreamHandler(echoProto, handleEcho)
		if err := b.Connect(limitedCtx(t, 2*streamTimeout), peer.AddrInfo{ID: target, Addrs: []ma.Multiaddr{r.CircuitAddr(target)}}); err != nil {
			t.Fatalf("go host cannot reach the browser through the relay: %v", err)
		}
		checkGoToJS(t, b, target, p)
	})
}
