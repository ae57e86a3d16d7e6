package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/redistest"
)

// TestFleetProcesses runs relayd processes with --redis on a real
// redis-server, the way a fleet runs.
func TestFleetProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relayd binary")
	}
	bin := buildRelayd(t)
	t.Run("quotas and drain", func(t *testing.T) { testFleetDrain(t, bin) })
	t.Run("node killed", func(t *testing.T) { testFleetNodeKilled(t, bin) })
}

// testFleetDrain: two nodes; reservation quotas hold across them, /readyz
// reports Redis, and a SIGTERM removes the draining node's entries at
// once, while its open circuit still flows.
func testFleetDrain(t *testing.T, bin string) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	args := func(node string) []string {
		return []string{"--redis", srv.URL(), "--node-id", node, "--max-reservations-per-ip", "2", "--drain-timeout", "30s"}
	}
	d1 := startDaemon(t, bin, args("n1")...)
	d2 := startDaemon(t, bin, args("n2")...)
	if body := readyz(t, d1); !strings.Contains(body, "redis: ok") || !strings.Contains(body, "node n1") {
		t.Fatalf("/readyz = %q, want the Redis state", body)
	}
	if n := rc.ZCard(context.Background(), "relayd:{fleet}:nodes").Val(); n != 2 {
		t.Fatalf("%d nodes registered, want 2", n)
	}

	st := d1.openCircuit(t) // takes one reservation from 127.0.0.1 on n1
	roundTrip(t, st, 4<<10)
	second := newClientHost(t)
	if _, err := second.Dial(ctxT(t), d2.addr, d2.id); err != nil {
		t.Fatal(err)
	}
	if _, err := circuit.Reserve(ctxT(t), second, d2.id); err != nil {
		t.Fatalf("second reservation from the IP, on n2: %v", err)
	}
	third := newClientHost(t)
	if _, err := third.Dial(ctxT(t), d2.addr, d2.id); err != nil {
		t.Fatal(err)
	}
	if _, err := circuit.Reserve(ctxT(t), third, d2.id); err == nil {
		t.Fatal("third reservation from one IP accepted: the per-IP quota of 2 does not hold across nodes")
	}
	if n := fleetReservations(t, rc); n != 2 {
		t.Fatalf("fleet holds %d reservations, want 2", n)
	}

	d1.signal(t, syscall.SIGTERM)
	d1.waitReadyz(t, http.StatusServiceUnavailable)
	if n := fleetReservations(t, rc); n != 1 {
		t.Fatalf("fleet holds %d reservations after n1 began draining, want 1 (n2's)", n)
	}
	roundTrip(t, st, 4<<10) // the drained node's circuit still flows
	st.Close()
	io.Copy(io.Discard, st)
	d1.wantExit(t, exitOK, `"msg":"drained"`)
	if members := rc.ZRange(context.Background(), "relayd:{fleet}:nodes", 0, -1).Val(); len(members) != 1 || members[0] != "n2" {
		t.Fatalf("nodes after n1 exited: %v, want [n2]", members)
	}
	d2.signal(t, syscall.SIGTERM)
	d2.wantExit(t, exitOK, `"msg":"stopped"`)
}

func readyz(t *testing.T, d *daemon) string {
	t.Helper()
	resp, err := http.Get(d.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func fleetReservations(t *testing.T, rc *redis.Client) int64 {
	t.Helper()
	now := time.Now().UnixMilli()
	n, err := rc.ZCount(context.Background(), "relayd:{fleet}:all", "("+strconv.FormatInt(now, 10), "+inf").Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testFleetNodeKilled: a node killed with SIGKILL sends nothing more; its
// reservation is gone from the fleet once its heartbeat lapses, and the
// peer's IP (quota 1 per IP across the fleet) can reserve through the
// other node.
func testFleetNodeKilled(t *testing.T, bin string) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	args := func(node string) []string {
		return []string{"--redis", srv.URL(), "--node-id", node, "--max-reservations-per-ip", "1", "--heartbeat-ttl", "2s"}
	}
	d1 := startDaemon(t, bin, args("n1")...)
	d2 := startDaemon(t, bin, args("n2")...)
	first := newClientHost(t)
	if _, err := first.Dial(ctxT(t), d1.addr, d1.id); err != nil {
		t.Fatal(err)
	}
	if _, err := circuit.Reserve(ctxT(t), first, d1.id); err != nil {
		t.Fatal(err)
	}
	again := newClientHost(t)
	if _, err := again.Dial(ctxT(t), d2.addr, d2.id); err != nil {
		t.Fatal(err)
	}
	if _, err := circuit.Reserve(ctxT(t), again, d2.id); err == nil {
		t.Fatal("second reservation from the IP accepted while n1 holds the IP's one slot")
	}

	d1.signal(t, syscall.SIGKILL)
	<-d1.exited
	deadline := time.Now().Add(20 * time.Second)
	for fleetReservations(t, rc) != 0 || rc.ZScore(context.Background(), "relayd:{fleet}:nodes", "n1").Err() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("killed node still in the fleet 20 s later (heartbeat TTL 2 s)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := circuit.Reserve(ctxT(t), again, d2.id); err != nil {
		t.Fatalf("re-reserving through n2 after n1 died: %v", err)
	}
}
