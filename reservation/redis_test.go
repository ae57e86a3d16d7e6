package reservation_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/redistest"
	"github.com/relayd/relayd/reservation"
	"github.com/relayd/relayd/reservation/storetest"
)

// longLife keeps the suite's nodes alive however far it moves the clock.
const longLife = 100 * 24 * time.Hour

// redisFleet builds stores on c under a fresh prefix, one per node, each
// with one heartbeat.
func redisFleet(c redis.UniversalClient, clock storetest.Clock, ttl time.Duration) storetest.NewFleet {
	return func(t *testing.T, nodes ...string) []storetest.Store {
		prefix := freshPrefix()
		out := make([]storetest.Store, len(nodes))
		for i, n := range nodes {
			s, err := reservation.NewRedis(reservation.RedisConfig{Client: c, Prefix: prefix, Node: n, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Heartbeat(context.Background(), "", ttl); err != nil {
				t.Fatal(err)
			}
			out[i] = s
		}
		return out
	}
}

func freshPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:]) + ":"
}

func TestRedis(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	clock := newClock()
	storetest.Run(t, clock, redisFleet(c, clock, longLife))
}

// TestRedisCluster proves the key design: every script's keys share one
// hash slot, so none fails with CROSSSLOT on a real 3-master cluster.
func TestRedisCluster(t *testing.T) {
	leakcheck.Check(t)
	cl := redistest.StartCluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs})
	defer c.Close()
	clock := newClock()
	storetest.Run(t, clock, redisFleet(c, clock, longLife))
	t.Run("liveness", func(t *testing.T) { testLiveness(t, c, clock) })
	t.Run("quotas", func(t *testing.T) { testQuotas(t, c, clock) })
}

func TestRedisLiveness(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	testLiveness(t, c, newClock())
}

func TestRedisQuotas(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	testQuotas(t, c, newClock())
}

// testLiveness: a node whose heartbeat lapses holds nothing (its
// reservations read absent and free their quota slots), and Leave drops a
// node's entries at once.
func testLiveness(t *testing.T, c redis.UniversalClient, clock storetest.Clock) {
	ctx := context.Background()
	const ttl = 10 * time.Second
	f := redisFleet(c, clock, ttl)(t, "n1", "n2")
	n1, n2 := f[0].(*reservation.Redis), f[1].(*reservation.Redis)
	if _, err := n1.Heartbeat(ctx, "10.0.0.1:7000", ttl); err != nil {
		t.Fatal(err)
	}
	if a, err := n2.MeshAddr(ctx, "n1"); err != nil || a != "10.0.0.1:7000" {
		t.Fatalf("MeshAddr(n1) = %q, %v", a, err)
	}
	if _, err := n2.MeshAddr(ctx, "n9"); !errors.Is(err, reservation.ErrNodeGone) {
		t.Fatalf("MeshAddr(unknown) = %v, want ErrNodeGone", err)
	}
	q := reservation.Quota{Total: 2, PerIP: -1, PerSubnet: -1}
	r1 := res(t, clock, "n1", "192.0.2.1")
	r2 := res(t, clock, "n1", "192.0.2.2")
	for _, r := range []reservation.Reservation{r1, r2} {
		if _, err := n1.Reserve(ctx, r, q); err != nil {
			t.Fatal(err)
		}
	}
	r3 := res(t, clock, "n2", "192.0.2.3")
	if _, err := n2.Reserve(ctx, r3, q); !errors.Is(err, reservation.ErrTotalQuota) {
		t.Fatalf("third reservation = %v, want ErrTotalQuota", err)
	}

	// n1 stops beating; n2 goes on.
	clock.Advance(ttl / 2)
	hb, err := n2.Heartbeat(ctx, "", ttl)
	if err != nil || hb.Nodes != 2 || hb.Rejoined {
		t.Fatalf("heartbeat = %+v, %v; want 2 nodes", hb, err)
	}
	clock.Advance(ttl/2 + time.Millisecond)
	if _, err := n2.Get(ctx, r1.Peer); !errors.Is(err, reservation.ErrNotFound) {
		t.Fatalf("Get of a dead node's reservation = %v, want ErrNotFound", err)
	}
	if _, err := n2.Reserve(ctx, r3, q); err != nil {
		t.Fatalf("dead node's slots not freed: %v", err)
	}
	if n, _ := n2.Count(ctx); n != 1 {
		t.Fatalf("Count = %d, want 1", n)
	}
	// n1 comes back: it rejoins with nothing, and must re-register.
	hb, err = n1.Heartbeat(ctx, "", ttl)
	if err != nil || !hb.Rejoined || hb.Nodes != 2 {
		t.Fatalf("heartbeat = %+v, %v; want rejoined", hb, err)
	}
	if _, err := n1.Get(ctx, r1.Peer); !errors.Is(err, reservation.ErrNotFound) {
		t.Fatalf("reaped reservation came back: %v", err)
	}
	// Meanwhile r2's peer moved to n2; n1 re-registers both, and must not
	// take r2 back.
	moved := r2
	moved.Node = "n2"
	if _, err := n2.Reserve(ctx, moved, reservation.NoQuota); err != nil {
		t.Fatal(err)
	}
	if err := n1.Sync(ctx, func() []reservation.Reservation { return []reservation.Reservation{r1, r2} }); err != nil {
		t.Fatal(err)
	}
	if got, err := n2.Get(ctx, r1.Peer); err != nil || got.Node != "n1" {
		t.Fatalf("after Sync: Get = %+v, %v", got, err)
	}
	if got, err := n2.Get(ctx, r2.Peer); err != nil || got.Node != "n2" {
		t.Fatalf("Sync took a moved peer back: Get = %+v, %v", got, err)
	}
	if n, _ := n2.Count(ctx); n != 3 {
		t.Fatalf("Count after Sync = %d, want 3", n)
	}

	// Leave drops every entry of the node at once.
	if err := n1.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Get(ctx, r1.Peer); !errors.Is(err, reservation.ErrNotFound) {
		t.Fatalf("Get after Leave = %v", err)
	}
	if _, err := n2.MeshAddr(ctx, "n1"); !errors.Is(err, reservation.ErrNodeGone) {
		t.Fatalf("MeshAddr after Leave = %v, want ErrNodeGone", err)
	}
	if n, _ := n2.Count(ctx); n != 2 {
		t.Fatalf("Count after Leave = %d, want 2 (n2's)", n)
	}
}

// testQuotas: per-IP and per-subnet caps hold across nodes, a refresh is
// never refused, and a peer hopping between nodes holds one slot.
func testQuotas(t *testing.T, c redis.UniversalClient, clock storetest.Clock) {
	ctx := context.Background()
	f := redisFleet(c, clock, longLife)(t, "n1", "n2", "n3")
	q := reservation.Quota{Total: -1, PerIP: 8, PerSubnet: 10}
	accepted := 0
	var first reservation.Reservation
	for i := range 12 {
		s := f[i%3].(*reservation.Redis)
		r := res(t, clock, s.Node(), "198.51.100.7")
		_, err := s.Reserve(ctx, r, q)
		switch {
		case err == nil:
			accepted++
			if i == 0 {
				first = r
			}
		case !errors.Is(err, reservation.ErrIPQuota):
			t.Fatal(err)
		}
	}
	if accepted != 8 {
		t.Fatalf("%d of 12 reservations from one IP over 3 nodes accepted, want 8", accepted)
	}
	// A refresh from the same IP passes though the IP is full; hopping
	// between nodes keeps one slot.
	for i := range 50 {
		s := f[i%3].(*reservation.Redis)
		first.Node = s.Node()
		if refreshed, err := s.Reserve(ctx, first, q); err != nil || !refreshed {
			t.Fatalf("hop %d: refreshed=%v, %v", i, refreshed, err)
		}
	}
	if n, _ := f[0].Count(ctx); n != 8 {
		t.Fatalf("Count = %d after hops, want 8", n)
	}
	// The subnet holds 10: two more from other IPs of the /24, then no more.
	for i, want := range []error{nil, nil, reservation.ErrSubnetQuota} {
		r := res(t, clock, "n2", netip.AddrFrom4([4]byte{198, 51, 100, byte(20 + i)}).String())
		if _, err := f[1].(*reservation.Redis).Reserve(ctx, r, q); !errors.Is(err, want) {
			t.Fatalf("subnet reservation %d = %v, want %v", i, err, want)
		}
	}
}

func res(t *testing.T, clock storetest.Clock, node, ip string) reservation.Reservation {
	return reservation.Reservation{
		Peer:   storetest.NewPeer(t),
		Node:   node,
		Expire: clock.Now().Add(time.Hour).Truncate(time.Second),
		Addr:   netip.MustParseAddr(ip),
	}
}

// TestRedisSyncMany: re-registering thousands of reservations is
// pipelined, and a second Sync changes nothing.
func TestRedisSyncMany(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	clock := newClock()
	s := redisFleet(c, clock, longLife)(t, "n1")[0].(*reservation.Redis)
	live := make([]reservation.Reservation, 2000)
	for i := range live {
		live[i] = res(t, clock, "n1", netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String())
	}
	stale := res(t, clock, "n1", "192.0.2.1")
	if _, err := s.Put(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Sync(context.Background(), func() []reservation.Reservation { return live }); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Count(context.Background()); err != nil || n != len(live) {
			t.Fatalf("Count = %d, %v; want %d", n, err, len(live))
		}
	}
	if _, err := s.Get(context.Background(), stale.Peer); !errors.Is(err, reservation.ErrNotFound) {
		t.Fatalf("entry not in live survived Sync: %v", err)
	}
}
