package fleet

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/redistest"
	"github.com/relayd/relayd/limiter"
)

// startSentinel runs a redis-server in Sentinel mode on a free loopback
// port, watching master as "relays", until the test ends. (redistest has
// no Sentinel; this is the one test that needs one.)
func startSentinel(t *testing.T, master string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found")
		}
		t.Skip("redis-server not found; install it: apt-get install redis-server")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	host, mport, _ := net.SplitHostPort(master)
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("port %s\nbind 127.0.0.1\nsentinel monitor relays %s %s 1\n", port, host, mport)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer sc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := sc.GetMasterAddrByName(context.Background(), "relays").Result()
		if err == nil && len(got) == 2 {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel on %s not ready: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSentinel: with --redis-sentinel-master the nodes find the master
// through Sentinel, and the fleet quotas hold.
func TestSentinel(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	sentinel := startSentinel(t, srv.Addr)
	c, err := NewClient("redis://"+sentinel, "relays", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	var nodes []*Node
	for _, id := range []string{"a", "b"} {
		lim, _ := limiter.New(limiter.Config{MaxReservationsPerIP: 1})
		n, err := New(Config{URL: "redis://" + sentinel, SentinelMaster: "relays", NodeID: id, Prefix: "sentinel:"}, lim)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		if !n.Up() {
			t.Fatalf("node %s: %s", id, n.State())
		}
		nodes = append(nodes, n)
	}
	if err := reserve(t, nodes[0], peerAt(t, "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	if err := reserve(t, nodes[1], peerAt(t, "192.0.2.1")); err == nil {
		t.Fatal("per-IP quota of 1 did not hold across nodes behind Sentinel")
	}
}
