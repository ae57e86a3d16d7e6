package relay_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/fleet"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/redistest"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
	"github.com/relayd/relayd/reservation"
)

// TestFleetRedisRestart: Redis stops while two fleet nodes hold
// reservations and a circuit. The circuit keeps flowing, a new circuit to
// a reservation of the node still works, and a new reservation is admitted
// locally; when Redis comes back (empty), the nodes re-register and the
// fleet's counts are right.
func TestFleetRedisRestart(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	var b [6]byte
	rand.Read(b[:])
	prefix := "t" + hex.EncodeToString(b[:]) + ":"
	node := func(id string) (*relay.Relay, ma.Multiaddr) {
		return newTestRelay(t, relay.Config{
			Limits: limiter.Config{Unlimited: true},
			// Beats every 500 ms, so Redis's return is noticed fast.
			Fleet: &fleet.Config{URL: srv.URL(), Prefix: prefix, NodeID: id, HeartbeatTTL: 1500 * time.Millisecond},
		})
	}
	r1, addr1 := node("n1")
	r2, addr2 := node("n2")
	a := echoTarget(t, r1, addr1)
	c := echoTarget(t, r2, addr2)
	st, _, err := circuit.Connect(ctxT(t), newClient(t, r1, addr1), r1.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(30 * time.Second))
	roundTrip(t, st, 16<<10)

	srv.Stop()
	roundTrip(t, st, 16<<10) // Redis is not on the byte path
	st2, _, err := circuit.Connect(ctxT(t), newClient(t, r1, addr1), r1.ID(), a.ID())
	if err != nil {
		t.Fatalf("circuit to a local reservation with Redis down: %v", err)
	}
	echo(t, st2, 1<<10)
	d := echoTarget(t, r1, addr1) // admitted under n1's own quotas

	srv.Restart(t)
	probe, err := reservation.NewRedis(reservation.RedisConfig{Client: rc, Prefix: prefix, Node: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := probe.Count(context.Background())
		if err == nil && n == 3 && r1.Fleet().Up() && r2.Fleet().Up() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet holds %d reservations (%v), want 3; %s; %s", n, err, r1.Status(), r2.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, w := range []struct {
		peer identity.PeerID
		node string
	}{{a.ID(), "n1"}, {c.ID(), "n2"}, {d.ID(), "n1"}} {
		got, err := probe.Get(context.Background(), w.peer)
		if err != nil || got.Node != w.node {
			t.Errorf("reservation of %s: %+v, %v; want held by %s", w.peer, got, err, w.node)
		}
	}
	if r1.Reservations() != 2 || r2.Reservations() != 1 {
		t.Errorf("slots per node: %d, %d; want 2, 1", r1.Reservations(), r2.Reservations())
	}
	roundTrip(t, st, 16<<10)
}
