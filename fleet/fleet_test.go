package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/redistest"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/reservation"
	"github.com/relayd/relayd/reservation/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testFleet is n nodes on one Redis under a fresh prefix, sharing clk.
// Their heartbeats run only when a test calls beat, so nothing is timed.
func testFleet(t *testing.T, url string, clk *clock, lim limiter.Config, policy Policy, n int) []*Node {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	prefix := "t" + hex.EncodeToString(b[:]) + ":"
	var out []*Node
	for i := range n {
		l, err := limiter.New(lim)
		if err != nil {
			t.Fatal(err)
		}
		node, err := New(Config{
			URL: url, Prefix: prefix, NodeID: string(rune('a' + i)), MeshAddr: "127.0.0.1:" + string(rune('0'+i)),
			Now: clk.Now, Unavailable: policy,
		}, l)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		if !node.Up() {
			t.Fatalf("node %s not up after New: %s", node.ID(), node.State())
		}
		out = append(out, node)
	}
	return out
}

func newClock() *clock { return &clock{t: time.Now()} }

func peerAt(t *testing.T, ip string) limiter.Peer {
	return limiter.Peer{ID: storetest.NewPeer(t), IP: netip.MustParseAddr(ip)}
}

func fleetCount(t *testing.T, n *Node) int {
	t.Helper()
	c, err := n.redis.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestQuotasAcrossNodes: the per-IP quota holds over three nodes, a peer
// hopping between nodes holds one slot, and two nodes racing to reserve
// one peer leave one slot every time.
func TestQuotasAcrossNodes(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	nodes := testFleet(t, srv.URL(), newClock(), limiter.Config{MaxReservationsPerIP: 8, MaxReservations: 2000}, PolicyLocal, 3)

	var first limiter.Peer
	accepted := 0
	for i := range 12 {
		p := peerAt(t, "203.0.113.7")
		_, _, err := nodes[i%3].Quota().Reserve(p)
		switch {
		case err == nil:
			accepted++
			if i == 0 {
				first = p
			}
		case !errors.Is(err, limiter.ErrIPQuota):
			t.Fatal(err)
		}
	}
	if accepted != 8 {
		t.Fatalf("%d of 12 reservations from one IP over 3 nodes accepted, want 8", accepted)
	}
	for i := range 50 {
		if _, refreshed, err := nodes[i%3].Quota().Reserve(first); err != nil || !refreshed {
			t.Fatalf("hop %d: refreshed=%v, %v", i, refreshed, err)
		}
	}
	if n := fleetCount(t, nodes[0]); n != 8 {
		t.Fatalf("fleet holds %d slots after 50 hops, want 8", n)
	}

	for i := range 1000 {
		p := peerAt(t, netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}).String())
		var wg sync.WaitGroup
		for _, n := range nodes[:2] {
			wg.Go(func() {
				if _, _, err := n.Quota().Reserve(p); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := fleetCount(t, nodes[0]); n != 9+i {
			t.Fatalf("race %d: fleet holds %d slots, want %d: one per peer", i, n, 9+i)
		}
	}
}

// reserve does what the circuit service does for a RESERVE: the quota,
// then the store.
func reserve(t *testing.T, n *Node, p limiter.Peer) error {
	t.Helper()
	if _, _, err := n.Quota().Reserve(p); err != nil {
		return err
	}
	_, err := n.Store().Put(context.Background(), reservation.Reservation{
		Peer: p.ID, Node: n.ID(), Addr: p.IP, Expire: n.cfg.Now().Add(time.Hour).Truncate(time.Second),
	})
	return err
}

// release does what the circuit service does when a peer leaves.
func release(n *Node, p limiter.Peer) {
	n.Store().Delete(context.Background(), p.ID, n.ID())
	n.Quota().Release(p.ID)
}

func holder(t *testing.T, n *Node, p limiter.Peer) string {
	t.Helper()
	r, err := n.Store().Get(context.Background(), p.ID)
	if errors.Is(err, reservation.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return r.Node
}

// TestRedisRestartLocal: Redis stops (and comes back empty) while nodes
// hold reservations. Meanwhile lookups of this node's reservations still
// work, new reservations are admitted locally, and when Redis returns each
// node re-registers what it holds: nothing lost, nothing counted twice.
func TestRedisRestartLocal(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	nodes := testFleet(t, srv.URL(), newClock(), limiter.Config{}, PolicyLocal, 2)
	a, b := nodes[0], nodes[1]
	p1, p2, p3 := peerAt(t, "192.0.2.1"), peerAt(t, "192.0.2.2"), peerAt(t, "192.0.2.3")
	for _, x := range []struct {
		n *Node
		p limiter.Peer
	}{{a, p1}, {b, p2}} {
		if err := reserve(t, x.n, x.p); err != nil {
			t.Fatal(err)
		}
	}
	if holder(t, b, p1) != "a" {
		t.Fatal("b does not see a's reservation")
	}

	srv.Stop()
	if got := holder(t, a, p1); got != "a" {
		t.Fatalf("with Redis down, a's own reservation reads %q", got)
	}
	if got := holder(t, a, p2); got != "" {
		t.Fatalf("with Redis down, b's reservation reads as held by %q", got)
	}
	a.beat() // notices, if the lookup did not
	if a.Up() || !a.Ready() || !strings.Contains(a.State(), "unavailable") {
		t.Fatalf("a: up=%v ready=%v state %q; want down, ready (policy local)", a.Up(), a.Ready(), a.State())
	}
	if err := reserve(t, a, p3); err != nil {
		t.Fatalf("local admission while Redis is down: %v", err)
	}
	release(a, p1) // p1 leaves while Redis is away
	a.beat()
	if a.Up() {
		t.Fatal("a up while Redis is stopped")
	}

	srv.Restart(t) // empty: the test servers keep nothing on disk
	for range 2 {  // the second beat must not count anything twice
		a.beat()
		b.beat()
	}
	if !a.Up() || !b.Up() {
		t.Fatalf("not up after Redis returned: %s / %s", a.State(), b.State())
	}
	if n := fleetCount(t, a); n != 2 {
		t.Fatalf("fleet holds %d reservations, want 2 (p2, p3)", n)
	}
	if holder(t, b, p3) != "a" || holder(t, a, p2) != "b" || holder(t, b, p1) != "" {
		t.Fatal("re-registered state is wrong")
	}
}

// TestRedisDownRefuse: under PolicyRefuse a node refuses new reservations
// and is not ready while Redis is down, and recovers when it returns.
func TestRedisDownRefuse(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	a := testFleet(t, srv.URL(), newClock(), limiter.Config{}, PolicyRefuse, 1)[0]
	held := peerAt(t, "192.0.2.1")
	if err := reserve(t, a, held); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	a.beat()
	if err := reserve(t, a, peerAt(t, "192.0.2.2")); !errors.Is(err, limiter.ErrFleetUnavailable) {
		t.Fatalf("reserve with Redis down = %v, want ErrFleetUnavailable", err)
	}
	if a.Ready() {
		t.Fatal("ready with Redis down under policy refuse")
	}
	if holder(t, a, held) != "a" {
		t.Fatal("established reservation lost while Redis is down")
	}
	srv.Restart(t)
	a.beat()
	if !a.Ready() {
		t.Fatalf("not ready after Redis returned: %s", a.State())
	}
	if err := reserve(t, a, peerAt(t, "192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	if n := fleetCount(t, a); n != 2 {
		t.Fatalf("fleet holds %d, want 2", n)
	}
}

// TestHeartbeatLapse: a node that stops beating holds nothing within the
// TTL (its reservations read absent, its quota slots are free, its mesh
// address is gone); if it was only cut off, its next beat re-registers
// what it still holds.
func TestHeartbeatLapse(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	clk := newClock()
	nodes := testFleet(t, srv.URL(), clk, limiter.Config{MaxReservations: 1}, PolicyLocal, 2)
	a, b := nodes[0], nodes[1]
	p1, p2 := peerAt(t, "192.0.2.1"), peerAt(t, "192.0.2.2")
	if err := reserve(t, a, p1); err != nil {
		t.Fatal(err)
	}
	if err := reserve(t, b, p2); !errors.Is(err, limiter.ErrTotalQuota) {
		t.Fatalf("second reservation = %v, want the fleet total quota", err)
	}
	if addr, err := b.MeshAddr(context.Background(), "a"); err != nil || addr != "127.0.0.1:0" {
		t.Fatalf("MeshAddr(a) = %q, %v", addr, err)
	}

	clk.Advance(10*time.Second + time.Millisecond) // a's TTL passes; b keeps beating
	b.beat()
	if b.Nodes() != 1 {
		t.Fatalf("b sees %d nodes, want 1", b.Nodes())
	}
	if got := holder(t, b, p1); got != "" {
		t.Fatalf("dead node's reservation reads as held by %q", got)
	}
	if _, err := b.MeshAddr(context.Background(), "a"); !errors.Is(err, ErrNodeGone) {
		t.Fatalf("MeshAddr(dead a) = %v, want ErrNodeGone", err)
	}
	if err := reserve(t, b, p2); err != nil {
		t.Fatalf("dead node's slot not freed: %v", err)
	}

	a.beat() // a was only cut off: it rejoins with what it holds
	if holder(t, b, p1) != "a" || fleetCount(t, b) != 2 {
		t.Fatalf("after a rejoined: holder %q, fleet %d", holder(t, b, p1), fleetCount(t, b))
	}
}

// TestLeave: a drained node's entries are gone at once.
func TestLeave(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	nodes := testFleet(t, srv.URL(), newClock(), limiter.Config{}, PolicyLocal, 2)
	a, b := nodes[0], nodes[1]
	p := peerAt(t, "192.0.2.1")
	if err := reserve(t, a, p); err != nil {
		t.Fatal(err)
	}
	if err := a.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if holder(t, b, p) != "" || fleetCount(t, b) != 0 {
		t.Fatal("a's reservation outlived its Leave")
	}
	if _, err := b.MeshAddr(context.Background(), "a"); !errors.Is(err, ErrNodeGone) {
		t.Fatalf("MeshAddr after Leave = %v", err)
	}
	a.beat() // no heartbeat after Leave
	if _, err := b.MeshAddr(context.Background(), "a"); !errors.Is(err, ErrNodeGone) {
		t.Fatal("a beat again after Leave")
	}
}

// TestLeaveRacesHeartbeat: a heartbeat already on its way to Redis when
// Leave runs must not bring the node back. Reaching Redis after the leave
// script, it would find the node gone, take that for a rejoin and
// re-register every reservation of a node that is draining.
func TestLeaveRacesHeartbeat(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	for round := range 300 {
		nodes := testFleet(t, srv.URL(), newClock(), limiter.Config{}, PolicyLocal, 2)
		a, b := nodes[0], nodes[1]
		if err := reserve(t, a, peerAt(t, "192.0.2.1")); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
					a.beat()
				}
			}
		}()
		err := a.Leave(context.Background())
		close(stop)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		if n := fleetCount(t, b); n != 0 {
			t.Fatalf("round %d: %d reservations in the fleet after a left", round, n)
		}
		if _, err := b.MeshAddr(context.Background(), "a"); !errors.Is(err, ErrNodeGone) {
			t.Fatalf("round %d: a is back in the fleet after Leave (MeshAddr: %v)", round, err)
		}
		a.Close()
		b.Close()
	}
}

// TestCluster: the fleet's scripts on a real 3-master Redis Cluster.
func TestCluster(t *testing.T) {
	leakcheck.Check(t)
	cl := redistest.StartCluster(t)
	c, err := NewClient(cl.URL(), "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*redis.ClusterClient); !ok {
		t.Fatalf("cluster URL gave a %T", c)
	}
	c.Close()
	nodes := testFleet(t, cl.URL(), newClock(), limiter.Config{MaxReservationsPerIP: 2}, PolicyLocal, 3)
	accepted := 0
	for i := range 6 {
		if err := reserve(t, nodes[i%3], peerAt(t, "203.0.113.9")); err == nil {
			accepted++
		}
	}
	if accepted != 2 {
		t.Fatalf("%d accepted, want 2", accepted)
	}
	if err := nodes[0].Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestLeaveWithoutTime: a drain with no time left (drain_timeout 0) still
// removes the node's entries.
func TestLeaveWithoutTime(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	nodes := testFleet(t, srv.URL(), newClock(), limiter.Config{}, PolicyLocal, 2)
	if err := reserve(t, nodes[0], peerAt(t, "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := nodes[0].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if n := fleetCount(t, nodes[1]); n != 0 {
		t.Fatalf("fleet holds %d after Leave with a done context", n)
	}
}
