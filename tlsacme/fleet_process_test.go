package tlsacme_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/pebbletest"
	"github.com/relayd/relayd/internal/redistest"
	"github.com/relayd/relayd/relay"
	"github.com/relayd/relayd/tlsacme"
)

// Environment of the helper node process (TestFleetHelperNode).
const (
	helperEnv      = "TLSACME_HELPER_NODE" // set: run as the helper
	helperRedis    = "TLSACME_HELPER_REDIS"
	helperPort     = "TLSACME_HELPER_PORT"
	helperDomain   = "TLSACME_HELPER_DOMAIN"
	helperCA       = "TLSACME_HELPER_CA"
	helperCARootFl = "TLSACME_HELPER_CA_ROOT"
)

// TestFleetAnyNodeAnswers: the node the CA reaches did not place the
// order. Node A, another process (so nothing is shared in memory), serves
// the /wss port the CA validates on with the fleet's Redis storage and
// never orders; node B, whose port the CA never sees, places the order.
// The CA's TLS-ALPN-01 check reaches A, which answers from the challenge
// B stored in Redis.
func TestFleetAnyNodeAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs a second test process")
	}
	leakcheck.Check(t)
	srv := redistest.Start(t)
	ca := pebbletest.Start(t, pebbletest.Options{})
	const domain = "anynode.relayd.test"
	var answered atomic.Bool
	startHelperNode(t, srv.Addr, ca, domain, &answered)

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	cfg := baseConfig(t, ca, domain)
	cfg.StorageDir, cfg.Redis = "", rdb
	b := startNode(t, cfg, 0, true)
	b.waitNames(t, domain)
	served(t, b.wss, domain, ca.IssuerRoots())
	if got := ca.Issued(); got != 1 {
		t.Errorf("the CA issued %d certificates, want 1", got)
	}
	// A logged the answer before the CA issued; its pipe may still hold it.
	eventually(t, "node A answers a challenge from the shared storage", answered.Load)
}

// startHelperNode runs node A in a child process until the test ends;
// answered turns true once A logs that it answered a challenge from the
// shared storage (certmagic's distributed=true).
func startHelperNode(t *testing.T, redisAddr string, ca *pebbletest.Server, domain string, answered *atomic.Bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFleetHelperNode$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperRedis+"="+redisAddr, helperPort+"="+strconv.Itoa(ca.TLSPort),
		helperDomain+"="+domain, helperCA+"="+ca.Directory, helperCARootFl+"="+ca.CARootFile)
	cmd.Stderr = t.Output()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	ready := make(chan bool, 2)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "helper ready" {
				ready <- true
				continue
			}
			answered.Store(answered.Load() || strings.Contains(sc.Text(), "distributed=true"))
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("helper node exited before it was ready")
		}
	case <-time.After(waitFor):
		t.Fatal("helper node did not start")
	}
}

// TestFleetHelperNode is node A of TestFleetAnyNodeAnswers when run as its
// child process; otherwise it does nothing.
func TestFleetHelperNode(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("only runs as TestFleetAnyNodeAnswers' child process")
	}
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(helperRedis)})
	defer rdb.Close()
	m, err := tlsacme.New(tlsacme.Config{
		Domains: []string{os.Getenv(helperDomain)}, CA: os.Getenv(helperCA), CARootFile: os.Getenv(helperCARootFl),
		Redis: rdb, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close() // never started: this node places no order
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	r, err := relay.New(relay.Config{
		Key:       key,
		Listen:    []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/" + os.Getenv(helperPort) + "/wss")},
		TLSConfig: m.TLSConfig(),
		Logger:    testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Serve(ctx) }()
	os.Stdout.WriteString("helper ready\n")
	bufio.NewReader(os.Stdin).ReadByte() // until the parent closes stdin
	cancel()
	<-done
}
