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

	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/pebbletest"
	"github.com/relayd/relayd/internal/redistest"
)

// TestDaemonACME: relayd with --acme-domain against pebble obtains the
// certificate by TLS-ALPN-01 on its /wss listener, serves it, reports it
// in /metrics, and /readyz stops naming it as pending. With --redis (a
// fleet) the ACME storage is the fleet's Redis, under the {acme} hash tag,
// and nothing is written to acme_storage.
func TestDaemonACME(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds relayd and runs a CA")
	}
	for _, withRedis := range []bool{false, true} {
		name := map[bool]string{false: "files", true: "redis"}[withRedis]
		t.Run(name, func(t *testing.T) { testDaemonACME(t, name, withRedis) })
	}
}

func testDaemonACME(t *testing.T, name string, withRedis bool) {
	leakcheck.Check(t)
	ca := pebbletest.Start(t, pebbletest.Options{})
	domain := name + ".daemon.relayd.test"
	storage := filepath.Join(t.TempDir(), "acme")
	args := []string{
		"--listen", "/ip4/127.0.0.1/tcp/" + strconv.Itoa(ca.TLSPort) + "/wss",
		"--acme-domain", domain, "--acme-ca", ca.Directory, "--acme-ca-root", ca.CARootFile,
		"--acme-email", "ops@relayd.test", "--acme-storage", storage}
	var rdb *redis.Client
	if withRedis {
		rs := redistest.Start(t)
		rdb = redis.NewClient(&redis.Options{Addr: rs.Addr})
		defer rdb.Close()
		args = append(args, "--redis", rs.URL(), "--node-id", "acme-1")
	}
	d := startDaemon(t, buildRelayd(t), args...)

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
	if !withRedis {
		return
	}
	keys, err := rdb.Keys(ctx, "relayd:{acme}:*").Result()
	if err != nil || len(keys) == 0 {
		t.Errorf("no ACME keys in the fleet's Redis (err %v)", err)
	}
	if files, _ := filepath.Glob(filepath.Join(storage, "*")); len(files) > 0 {
		t.Errorf("with --redis, acme_storage holds %v", files)
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
