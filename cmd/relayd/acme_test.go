package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/pebbletest"
)

// TestDaemonACME: relayd with --acme-domain against pebble obtains the
// certificate by TLS-ALPN-01 on its /wss listener, serves it, reports it
// in /metrics, and /readyz stops naming it as pending.
func TestDaemonACME(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds relayd and runs a CA")
	}
	leakcheck.Check(t)
	ca := pebbletest.Start(t, pebbletest.Options{})
	const domain = "daemon.relayd.test"
	storage := filepath.Join(t.TempDir(), "acme")
	d := startDaemon(t, buildRelayd(t),
		"--listen", "/ip4/127.0.0.1/tcp/"+strconv.Itoa(ca.TLSPort)+"/wss",
		"--acme-domain", domain, "--acme-ca", ca.Directory, "--acme-ca-root", ca.CARootFile,
		"--acme-email", "ops@relayd.test", "--acme-storage", storage)

	deadline := time.Now().Add(60 * time.Second)
	for body := get(t, d.admin+"/readyz"); strings.Contains(body, "pending: acme certificate for "+domain); body = get(t, d.admin+"/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still says %q\n%s", body, d.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	conf := &tls.Config{ServerName: domain, RootCAs: ca.IssuerRoots(), NextProtos: []string{"http/1.1"}}
	dialer := &tls.Dialer{Config: conf}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialer.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(ca.TLSPort))
	if err != nil {
		t.Fatalf("TLS to the /wss listener: %v\n%s", err, d.logs())
	}
	c.Close()
	if m := get(t, d.admin+"/metrics"); !strings.Contains(m, `relayd_tls_certificate_expiry_timestamp_seconds{domain="`+domain+`"}`) {
		t.Errorf("/metrics lacks the expiry of %s", domain)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
