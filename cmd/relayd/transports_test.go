package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/ws/wstest"
)

// TestServeEveryTransport runs the daemon on TCP, QUIC, WebSocket and
// WebSocket over TLS (certificate from files) and probes all four with
// `relayd probe` (/wss trusting the certificate through --tls-ca, which
// bench takes too); /wss also gets a TLS handshake with the certificate.
func TestServeEveryTransport(t *testing.T) {
	leakcheck.Check(t)
	clearEnv(t)
	cert := wstest.New(t)
	certFile, keyFile := cert.WriteFiles(t)
	args := []string{
		"--identity", filepath.Join(t.TempDir(), "relayd.key"), "--admin-listen", "",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1",
		"--listen", "/ip4/127.0.0.1/tcp/0/ws", "--listen", "/ip4/127.0.0.1/tcp/0/wss",
		"--tls-cert", certFile, "--tls-key", keyFile, "--max-reservations-per-ip", "16",
	}
	addrs, stop := startServe(t, args, 4)
	defer stop()
	for _, label := range []string{"tcp", "quic", "ws"} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"probe", "--timeout", "20s", addrs[label].String()}, &out, &errOut)
		if code != exitOK {
			t.Errorf("probe over %s: exit %d: %s%s", label, code, out.String(), errOut.String())
		}
	}
	// /wss with the test certificate's CA given by --tls-ca: probe and
	// bench dial it; without it the system's roots refuse the certificate.
	wss := addrs["wss"].String()
	for _, args := range [][]string{
		{"probe", "--timeout", "20s", "--tls-ca", certFile, wss},
		{"bench", "--reservations", "2", "--circuits", "1", "--bytes", "64KiB", "--timeout", "30s", "--tls-ca", certFile, wss},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != exitOK {
			t.Errorf("%s over wss with --tls-ca: exit %d: %s%s", args[0], code, out.String(), errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"bench", "--reservations", "2", "--circuits", "0", "--bytes", "0", "--timeout", "20s", wss}, &out, &errOut)
	if code == exitOK || !strings.Contains(errOut.String(), "certificate") {
		t.Errorf("bench over wss without --tls-ca: exit %d, %s; want a certificate error", code, errOut.String())
	}
	na, _ := manet.ToNetAddr(addrs["wss"][:2])
	conf := cert.Client.Clone()
	conf.ServerName = "localhost"
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", na.String(), conf)
	if err != nil {
		t.Fatalf("TLS to the /wss listener: %v", err)
	}
	c.Close()
}

// startServe runs `relayd` (serve) with args until the test stops it, and
// returns the n advertised addresses it logs, by transport.
func startServe(t *testing.T, args []string, n int) (map[string]ma.Multiaddr, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append(args, "--log-format", "json"), io.Discard, pw)
		pw.Close()
	}()
	addrs := map[string]ma.Multiaddr{}
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if a := loggedAddr(sc.Text()); a != nil && len(addrs) < n {
				addrs[transport.Label(a)] = a
				if len(addrs) == n {
					close(found)
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	stop := func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("relayd exit %d", code)
		}
	}
	select {
	case <-found:
	case code := <-done:
		t.Fatalf("relayd exited %d before listening", code)
	case <-time.After(20 * time.Second):
		stop()
		t.Fatalf("relayd logged %d addresses, want %d", len(addrs), n)
	}
	return addrs, stop
}

// loggedAddr is the addr of a json "listening" log line.
func loggedAddr(line string) ma.Multiaddr {
	if !strings.Contains(line, `"msg":"listening"`) {
		return nil
	}
	_, rest, ok := strings.Cut(line, `"addr":"`)
	if !ok {
		return nil
	}
	s, _, _ := strings.Cut(rest, `"`)
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil
	}
	return a
}

func TestServeTLSFileErrorsNameTheFields(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	r := runRelayd(t, "--identity", filepath.Join(dir, "k"), "--admin-listen", "",
		"--listen", "/ip4/127.0.0.1/tcp/0/wss",
		"--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", filepath.Join(dir, "missing.key"))
	if r.code != exitFailure || !strings.Contains(r.stderr, "tls_cert, tls_key") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = runRelayd(t, "--identity", filepath.Join(dir, "k"), "--listen", "/ip4/127.0.0.1/tcp/0/wss")
	if r.code != exitUsage || !strings.Contains(r.stderr, "tls_cert") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestACMEFlagErrors: --acme-domain with --tls-cert, a malformed domain or
// a bad --acme-ca stop relayd with one line naming the setting, exit 2.
func TestACMEFlagErrors(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	base := []string{"--identity", filepath.Join(dir, "k"), "--admin-listen", "", "--listen", "/ip4/127.0.0.1/tcp/0/wss"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--acme-domain", "relay.example.com", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "acme_domains: cannot be used with tls_cert"},
		{[]string{"--acme-domain", "relay"}, `domain "relay": needs at least two labels`},
		{[]string{"--acme-domain", "relay.example.com", "--acme-ca", "acme.example.com/directory"}, "acme_ca: CA URL"},
	} {
		r := runRelayd(t, append(slices.Clone(base), tc.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", tc.args, r.code, r.stderr, exitUsage, tc.want)
		}
	}
}
