package interop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
)

// The fleet tests (issue 9) run three relayd processes on one identity,
// one mesh secret and one redis-server, and judge them with stock go-libp2p
// clients. A go-libp2p host treats the three nodes as one peer (one ID), so
// every route through a given node uses a fresh host, or one whose
// connection and addresses for the relay were dropped first (reserveOnNode).

// TestFleetEcho: A reserves through node 1; B dials A through node 2 and
// through node 3 over TCP and through node 2 over /ws, and echoes 32 KiB
// each time. Then each node's metrics tell the same story: the entry nodes
// answered the CONNECTs and forwarded them out, node 1 took them in.
func TestFleetEcho(t *testing.T) {
	t.Parallel()
	f := startFleet(t, startRedis(t), 3, []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"})
	n1, n2, n3 := f.Nodes[0], f.Nodes[1], f.Nodes[2]
	a := newTarget(t, n1.relayProc)

	routes := []struct {
		via *fleetNode
		tr  string
	}{{n2, "tcp"}, {n3, "tcp"}, {n2, "ws"}}
	const payload = 32 << 10
	for _, r := range routes {
		b := newHost(t, libp2p.Transport(websocket.New))
		addr := circuitOver(t, r.via.relayProc, r.tr, a.ID())
		ctx := limitedCtx(t, 20*time.Second)
		if err := b.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: []ma.Multiaddr{addr}}); err != nil {
			t.Fatalf("dial A through %s over %s: %v", r.via.ID, r.tr, err)
		}
		if c := connsTo(b, a.ID()); len(c) != 1 || !c[0].Stat().Limited {
			t.Errorf("via %s/%s: want one limited conn to A, have %d", r.via.ID, r.tr, len(c))
		}
		checkEcho(t, b, a.ID(), payload)
		b.Close() // ends the circuit, so the counts below are final
	}

	want := []struct {
		node          *fleetNode
		out, in, conn float64
	}{{n1, 0, 3, 0}, {n2, 2, 0, 2}, {n3, 1, 0, 1}}
	for _, w := range want {
		w.node.awaitMetric(t, 10*time.Second, "relayd_mesh_forwarded_circuits_active", nil, func(v float64) bool { return v == 0 })
		// The holding node counts a forwarded circuit in when it ends
		// (after the active gauge went down).
		w.node.awaitMetric(t, 10*time.Second, "relayd_mesh_forwarded_circuits_total", map[string]string{"direction": "in"}, func(v float64) bool { return v >= w.in })
		m := w.node.metrics(t)
		got := func(name string, labels map[string]string) float64 { return metricSum(m, name, labels) }
		if v := got("relayd_mesh_forwarded_circuits_total", map[string]string{"direction": "out", "result": "ok"}); v != w.out {
			t.Errorf("%s: forwarded out ok = %v, want %v", w.node.ID, v, w.out)
		}
		if v := got("relayd_mesh_forwarded_circuits_total", map[string]string{"direction": "in", "result": "ok"}); v != w.in {
			t.Errorf("%s: forwarded in ok = %v, want %v", w.node.ID, v, w.in)
		}
		if v := got("relayd_circuits_requests_total", map[string]string{"result": "ok"}); v != w.conn {
			t.Errorf("%s: CONNECT ok = %v, want %v (CONNECT entered there %v times)", w.node.ID, v, w.conn, w.conn)
		}
		if v := got("relayd_mesh_forwarded_circuits_total", map[string]string{"result": "failed"}) +
			got("relayd_mesh_forwarded_circuits_total", map[string]string{"result": "refused"}); v != 0 {
			t.Errorf("%s: %v forwarded circuits failed or refused", w.node.ID, v)
		}
		// Each circuit carried the payload both ways (plus Noise, yamux
		// and identify), over the mesh in both directions.
		circuits := w.out + w.in
		for _, dir := range []string{"sent", "received"} {
			if v := got("relayd_mesh_forwarded_bytes_total", map[string]string{"direction": dir}); v < circuits*payload {
				t.Errorf("%s: mesh bytes %s = %v, want ≥ %v", w.node.ID, dir, v, circuits*payload)
			}
		}
		if v := got("relayd_mesh_links_up", nil); v < 1 {
			t.Errorf("%s: mesh links up = %v, want ≥ 1", w.node.ID, v)
		}
		// As of the node's last heartbeat (a third of the TTL ago at most).
		w.node.awaitMetric(t, 10*time.Second, "relayd_fleet_reservations", nil, func(v float64) bool { return v == 1 })
		t.Logf("%s: out %v in %v connect-ok %v mesh-bytes sent %v received %v", w.node.ID,
			got("relayd_mesh_forwarded_circuits_total", map[string]string{"direction": "out"}),
			got("relayd_mesh_forwarded_circuits_total", map[string]string{"direction": "in"}),
			got("relayd_circuits_requests_total", map[string]string{"result": "ok"}),
			got("relayd_mesh_forwarded_bytes_total", map[string]string{"direction": "sent"}),
			got("relayd_mesh_forwarded_bytes_total", map[string]string{"direction": "received"}))
	}
	if n := liveReservations(t, f.RedisURL); n != 1 {
		t.Errorf("Redis holds %d live reservations, want 1", n)
	}
}

// TestFleetLimits: the entry node enforces the limits on forwarded
// circuits. With --limit-data 65536, paced 4 KiB writes through node 2 to a
// target on node 1: at most the cap comes back, at least half of it reached
// the target, and the circuit ends. With --limit-duration 3s an idle
// forwarded circuit ends after about 3 s.
func TestFleetLimits(t *testing.T) {
	t.Parallel()
	const capBytes = 65536
	f := startFleet(t, startRedis(t), 3, []string{defaultListen}, "--limit-data", "65536", "--limit-duration", "3s")
	n1, n2, n3 := f.Nodes[0], f.Nodes[1], f.Nodes[2]

	t.Run("data", func(t *testing.T) {
		a := newTarget(t, n1.relayProc)
		received := make(chan int64, 1)
		a.SetStreamHandler(echoProto, countingEcho(received))
		b := newHost(t)
		dialCircuit(t, b, n2.relayProc, a.ID())
		checkDataCap(t, b, a.ID(), received, capBytes, 5*time.Millisecond, capBytes/2)
		n1.awaitMetric(t, 10*time.Second, "relayd_mesh_forwarded_circuits_closed_total", nil, func(v float64) bool { return v >= 1 })
	})
	t.Run("duration", func(t *testing.T) {
		a := newTarget(t, n1.relayProc)
		b := newHost(t)
		start := time.Now()
		dialCircuit(t, b, n3.relayProc, a.ID())
		if !waitFor(15*time.Second, func() bool { return len(connsTo(b, a.ID())) == 0 }) {
			t.Fatal("forwarded circuit still open 15 s after a 3 s duration cap")
		}
		lifetime := time.Since(start)
		t.Logf("forwarded circuit lived %v (cap 3s)", lifetime)
		if lifetime < 2500*time.Millisecond || lifetime > 10*time.Second {
			t.Errorf("forwarded circuit lived %v, want about 3 s", lifetime)
		}
	})
}

// reserveOnNode makes h reserve on node nd and nowhere else: the nodes
// share one peer ID, so go-libp2p would reuse a connection to (or an
// address of) another node. It drops both first, and checks the
// reservation went over a connection to nd. go-libp2p updates the
// peerstore when the dropped connection's events arrive, which can race
// with the new dial (no addresses, or an old node's address): such an
// attempt is retried.
func reserveOnNode(ctx context.Context, h host.Host, nd *fleetNode) (*client.Reservation, error) {
	id := nd.Info.ID
	var err error
	for range 5 {
		_ = h.Network().ClosePeer(id)
		waitFor(2*time.Second, func() bool { return h.Network().Connectedness(id) != network.Connected })
		h.Peerstore().ClearAddrs(id)
		var rsvp *client.Reservation
		rsvp, err = client.Reserve(ctx, h, nd.Info)
		var re client.ReservationError
		if err != nil && (!errors.As(err, &re) || re.Status != pbv2.Status_CONNECTION_FAILED) {
			return nil, err
		}
		if err == nil {
			conns := h.Network().ConnsToPeer(id)
			if len(conns) == 1 && conns[0].RemoteMultiaddr().Equal(nd.Info.Addrs[0]) {
				return rsvp, nil
			}
			err = fmt.Errorf("reserved over %d conns, not only to %s", len(conns), nd.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}

// TestFleetQuotas: --max-reservations-per-ip 8 on every node holds for the
// fleet. 12 hosts on 127.0.0.1 reserving round-robin over 3 nodes: exactly
// 8 accepted. After they leave, a peer that hops between the nodes 50 times
// (reserve, disconnect, reserve on the next) holds exactly one slot: Redis
// and every node count 1, the peer is reachable through a node it never
// reserved on last, and exactly 7 more hosts get a slot.
func TestFleetQuotas(t *testing.T) {
	t.Parallel()
	f := startFleet(t, startRedis(t), 3, []string{defaultListen}, "--max-reservations-per-ip", "8")

	accepted := func(hosts []host.Host) int {
		ok := 0
		for i, h := range hosts {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			_, err := reserveOnNode(ctx, h, f.Nodes[i%3])
			cancel()
			var re client.ReservationError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &re):
				t.Logf("host %d on %s: %v", i, f.Nodes[i%3].ID, err)
			default:
				t.Fatalf("host %d on %s: %v", i, f.Nodes[i%3].ID, err)
			}
		}
		return ok
	}
	awaitCount := func(want int) {
		t.Helper()
		if !waitFor(10*time.Second, func() bool { return liveReservations(t, f.RedisURL) == want }) {
			t.Fatalf("Redis holds %d live reservations, want %d", liveReservations(t, f.RedisURL), want)
		}
		for _, nd := range f.Nodes {
			nd.awaitMetric(t, 10*time.Second, "relayd_fleet_reservations", nil, func(v float64) bool { return v == float64(want) })
		}
	}

	hosts := make([]host.Host, 12)
	for i := range hosts {
		hosts[i] = newHost(t)
	}
	if n := accepted(hosts); n != 8 {
		t.Errorf("12 reservations from one IP over 3 nodes: %d accepted, want 8", n)
	}
	awaitCount(8)
	for _, h := range hosts {
		h.Close()
	}
	awaitCount(0)

	hopper := newHost(t)
	hopper.SetStreamHandler(echoProto, handleEcho)
	for i := range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, err := reserveOnNode(ctx, hopper, f.Nodes[i%3])
		cancel()
		if err != nil {
			t.Fatalf("hop %d (%s): %v", i, f.Nodes[i%3].ID, err)
		}
	}
	last := f.Nodes[49%3]
	awaitCount(1)
	holder := redisCLI(t, f.RedisURL, "HGET", "relayd:{fleet}:res:"+hopper.ID().String(), "node")
	if holder != last.ID {
		t.Errorf("Redis says the hopper's reservation is held by %q, want %q (its last hop)", holder, last.ID)
	}
	for _, nd := range f.Nodes {
		if nd == last {
			continue
		}
		b := newHost(t)
		dialCircuit(t, b, nd.relayProc, hopper.ID())
		checkEcho(t, b, hopper.ID(), 4<<10)
		b.Close()
	}
	more := make([]host.Host, 8)
	for i := range more {
		more[i] = newHost(t)
	}
	if n := accepted(more); n != 7 {
		t.Errorf("with the hopper holding one slot, %d of 8 more reservations accepted, want 7", n)
	}
	awaitCount(8)
}

// TestFleetRedisOutage: Redis is killed (its data lost) for 10 s while a
// forwarded circuit carries a paced echo, then started again; during the
// outage another peer reserves on node 3 (--redis-unavailable local). The
// circuit carries every byte; afterwards the nodes have re-registered their
// reservations (Redis and every node's metric count 2: none lost, none
// twice) and both peers are reachable through other nodes.
func TestFleetRedisOutage(t *testing.T) {
	t.Parallel()
	rd := startRestartableRedis(t)
	f := startFleet(t, rd.URL, 3, []string{defaultListen}, "--unlimited")
	n1, n2, n3 := f.Nodes[0], f.Nodes[1], f.Nodes[2]
	a := newTarget(t, n1.relayProc)
	b := newHost(t)
	dialCircuit(t, b, n2.relayProc, a.ID())

	// ~15 s of traffic: 600 chunks of 4 KiB, one every 25 ms.
	payload := randomBytes(t, 600*writeChunk)
	done := make(chan echoResult, 1)
	go func() {
		res, err := pacedEcho(limitedCtx(t, streamTimeout), b, a.ID(), payload, 25*time.Millisecond)
		if err != nil {
			res.writeErr = err
		}
		done <- res
	}()
	time.Sleep(2 * time.Second) // traffic flows before the outage
	before := n1.metric(t, "relayd_redis_reregistrations_total", nil)
	rd.kill()
	down := time.Now()
	for _, nd := range f.Nodes {
		nd.awaitMetric(t, 10*time.Second, "relayd_redis_up", nil, func(v float64) bool { return v == 0 })
	}
	// --redis-unavailable local (the default): a node still takes new
	// reservations, in its own copy, and registers them once Redis is back.
	c := newTarget(t, n3.relayProc)
	time.Sleep(10*time.Second - time.Since(down))
	rd.start(t)
	t.Logf("Redis was down %v", time.Since(down))

	res := <-done
	if res.writeErr != nil || res.readErr != nil || res.echoed != len(payload) {
		t.Errorf("circuit across the outage: wrote %d (%v), echoed %d of %d (%v)", res.sent, res.writeErr, res.echoed, len(payload), res.readErr)
	}
	for _, nd := range f.Nodes {
		nd.awaitMetric(t, 15*time.Second, "relayd_redis_up", nil, func(v float64) bool { return v == 1 })
		nd.awaitMetric(t, 10*time.Second, "relayd_fleet_reservations", nil, func(v float64) bool { return v == 2 })
	}
	if n := liveReservations(t, f.RedisURL); n != 2 {
		t.Errorf("after the outage Redis holds %d live reservations, want 2", n)
	}
	if after := n1.metric(t, "relayd_redis_reregistrations_total", nil); after <= before {
		t.Errorf("node 1 re-registrations %v → %v, want an increase", before, after)
	}
	if v := n1.metric(t, "relayd_redis_errors_total", nil); v == 0 {
		t.Errorf("node 1 counted no Redis errors during the outage")
	}
	b3 := newHost(t)
	dialCircuit(t, b3, n3.relayProc, a.ID())
	checkEcho(t, b3, a.ID(), 4<<10)
	// The reservation taken during the outage is reachable through
	// another node: node 3 re-registered it with its mesh address.
	b4 := newHost(t)
	dialCircuit(t, b4, n1.relayProc, c.ID())
	checkEcho(t, b4, c.ID(), 4<<10)
}

// TestFleetNodeFailure: node 1, holding A's reservation, is killed with
// SIGKILL: within the heartbeat TTL Redis no longer counts the reservation
// live, and node 2 answers NO_RESERVATION. A re-reserves through node 2 and
// is reached through node 3. Then node 2 is drained with SIGTERM: its
// entries leave Redis at once, well before the TTL.
func TestFleetNodeFailure(t *testing.T) {
	t.Parallel()
	f := startFleet(t, startRedis(t), 3, []string{defaultListen})
	n1, n2, n3 := f.Nodes[0], f.Nodes[1], f.Nodes[2]
	a := newTarget(t, n1.relayProc)
	if n := liveReservations(t, f.RedisURL); n != 1 {
		t.Fatalf("Redis holds %d live reservations, want 1", n)
	}

	n1.kill(t)
	killed := time.Now()
	if !waitFor(fleetHeartbeatTTL+2*time.Second, func() bool { return liveReservations(t, f.RedisURL) == 0 }) {
		t.Fatalf("a SIGKILLed node's reservation still live in Redis %v later (heartbeat TTL %v)", time.Since(killed), fleetHeartbeatTTL)
	}
	t.Logf("SIGKILLed node's reservation gone from the fleet after %v (TTL %v)", time.Since(killed), fleetHeartbeatTTL)
	for _, nd := range []*fleetNode{n2, n3} {
		nd.awaitMetric(t, 10*time.Second, "relayd_fleet_nodes", nil, func(v float64) bool { return v == 2 })
		nd.awaitMetric(t, 10*time.Second, "relayd_fleet_reservations", nil, func(v float64) bool { return v == 0 })
	}
	b := newHost(t)
	err := b.Connect(limitedCtx(t, 10*time.Second), peer.AddrInfo{ID: a.ID(), Addrs: []ma.Multiaddr{n2.CircuitAddr(a.ID())}})
	if err == nil {
		t.Fatal("CONNECT through node 2 to a peer whose node died succeeded")
	}
	if want := "NO_RESERVATION"; !containsErr(err, want) {
		t.Errorf("CONNECT to a dead node's peer: %v, want %s", err, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := reserveOnNode(ctx, a, n2); err != nil {
		t.Fatalf("re-reserve through node 2: %v", err)
	}
	b3 := newHost(t)
	dialCircuit(t, b3, n3.relayProc, a.ID())
	checkEcho(t, b3, a.ID(), 4<<10)
	b3.Close()
	n3.awaitMetric(t, 10*time.Second, "relayd_fleet_reservations", nil, func(v float64) bool { return v == 1 })
	if got := nodeEntries(t, f.RedisURL, n2.ID); got != 1 {
		t.Fatalf("Redis lists %d peers for node 2, want 1", got)
	}

	n3.awaitMetric(t, 10*time.Second, "relayd_circuits_active", nil, func(v float64) bool { return v == 0 })
	n2.Stop(t)
	stopped := time.Now()
	if got := nodeEntries(t, f.RedisURL, n2.ID); got != 0 {
		t.Errorf("node 2 drained with SIGTERM, yet Redis lists %d peers for it", got)
	}
	if n := liveReservations(t, f.RedisURL); n != 0 {
		t.Errorf("node 2 drained with SIGTERM, yet Redis holds %d live reservations", n)
	}
	if s := redisCLI(t, f.RedisURL, "ZSCORE", "relayd:{fleet}:nodes", n2.ID); s != "" {
		t.Errorf("node 2 drained, yet it is still in the node set (score %q)", s)
	}
	t.Logf("drained node's entries checked %v after it exited", time.Since(stopped))
}

func containsErr(err error, s string) bool {
	return err != nil && strings.Contains(fmt.Sprint(err), s)
}

// TestFleetMeshCut: every node's mesh is reached through a TCP proxy the
// test can cut. A forwarded circuit (n2 → n1) carries a paced echo when
// every mesh link is cut: the circuit ends with an error at the dialer
// (not a clean EOF), the nodes count a link drop, the link comes back and
// a new circuit through n2 echoes.
func TestFleetMeshCut(t *testing.T) {
	t.Parallel()
	var proxies []*cutProxy
	f := startFleetWith(t, &testFleet{RedisURL: startRedis(t), listen: []string{defaultListen}, flags: []string{"--unlimited"},
		advertise: func(t *testing.T, listen string) string {
			p := startCutProxy(t, listen)
			proxies = append(proxies, p)
			return p.Addr()
		}}, 3)
	n1, n2 := f.Nodes[0], f.Nodes[1]
	a := newTarget(t, n1.relayProc)
	b := newHost(t)
	dialCircuit(t, b, n2.relayProc, a.ID())
	checkEcho(t, b, a.ID(), 4<<10) // the link is up

	payload := randomBytes(t, 400*writeChunk) // ~10 s at 25 ms a chunk
	done := make(chan echoResult, 1)
	go func() {
		res, err := pacedEcho(limitedCtx(t, streamTimeout), b, a.ID(), payload, 25*time.Millisecond)
		if err != nil {
			res.readErr = err
		}
		done <- res
	}()
	time.Sleep(time.Second) // bytes flow over the link before the cut
	cut := 0
	for _, p := range proxies {
		cut += p.cut()
	}
	if cut == 0 {
		t.Fatal("no mesh link went through the proxies")
	}
	res := <-done
	t.Logf("cut %d links; echo: wrote %d (%v), echoed %d (%v)", cut, res.sent, res.writeErr, res.echoed, res.readErr)
	if res.readErr == nil || res.echoed == len(payload) {
		t.Errorf("circuit through a cut mesh link: echoed %d of %d, read error %v; want it to end with an error", res.echoed, len(payload), res.readErr)
	}
	if res.readErr != nil && !strings.Contains(res.readErr.Error(), "reset") {
		t.Errorf("circuit through a cut mesh link ended with %v, want a reset", res.readErr)
	}
	if !waitFor(10*time.Second, func() bool { return len(connsTo(b, a.ID())) == 0 }) {
		t.Errorf("dialer's circuit conn still open 10 s after the mesh link was cut")
	}
	if !waitFor(10*time.Second, func() bool {
		return n1.metric(t, "relayd_mesh_link_drops_total", nil)+n2.metric(t, "relayd_mesh_link_drops_total", nil) > 0
	}) {
		t.Errorf("neither node counted a mesh link drop")
	}
	b2 := newHost(t)
	dialCircuit(t, b2, n2.relayProc, a.ID())
	checkEcho(t, b2, a.ID(), 4<<10)
	n2.awaitMetric(t, 10*time.Second, "relayd_mesh_links_up", nil, func(v float64) bool { return v >= 1 })
}
