package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/cutproxy"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/mesh"
	"github.com/relayd/relayd/mesh/meshtest"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
	"github.com/relayd/relayd/reservation"
)

var meshSecret = bytes.Repeat([]byte("k"), mesh.MinSecretSize)

// fleetNode is one node of an in-process fleet.
type fleetNode struct {
	r    *relay.Relay
	addr ma.Multiaddr
	reg  *prometheus.Registry
}

// newFleet starts n relays with one identity key, one reservation store
// (the stand-in for the fleet's Redis) and one mesh directory. secrets[i],
// when given, replaces node i's mesh secret; an empty one means no mesh.
func newFleet(t testing.TB, n int, cfg relay.Config, secrets ...[]byte) ([]fleetNode, *meshtest.Dir) {
	t.Helper()
	return newFleetKeys(t, n, cfg, false, secrets...)
}

// newFleetKeys is newFleet with a key per node when independent is set.
func newFleetKeys(t testing.TB, n int, cfg relay.Config, independent bool, secrets ...[]byte) ([]fleetNode, *meshtest.Dir) {
	t.Helper()
	key := newKey(t)
	store := reservation.NewMemory(nil)
	dir := meshtest.NewDir()
	var nodes []fleetNode
	for i := range n {
		c := cfg
		c.Key, c.Store, c.NodeID = key, store, fmt.Sprintf("node-%d", i+1)
		if independent {
			c.Key = newKey(t)
		}
		c.Metrics = prometheus.NewRegistry()
		sec := meshSecret
		if i < len(secrets) {
			sec = secrets[i]
		}
		if len(sec) > 0 {
			c.Mesh = mesh.Config{Listen: "127.0.0.1:0", Secret: sec, Directory: dir,
				RedialMin: 10 * time.Millisecond, RedialMax: 100 * time.Millisecond}
		}
		r, addr := newTestRelay(t, c)
		if a := r.MeshAddr(); a != "" {
			dir.Set(c.NodeID, a)
		}
		nodes = append(nodes, fleetNode{r, addr, c.Metrics.(*prometheus.Registry)})
	}
	return nodes, dir
}

// TestFleetEcho: A reserves through node 1; B reaches A through node 2
// and through node 3, and data echoes both ways; both nodes count it.
func TestFleetEcho(t *testing.T) {
	leakcheck.Check(t)
	tests := []struct {
		name      string
		limits    limiter.Config
		payload   int
		wantLimit *wire.Limit
	}{
		{"unlimited 1MiB", limiter.Config{Unlimited: true}, 1 << 20, nil},
		{"default limits 64KiB", limiter.Config{}, 64 << 10, &wire.Limit{Duration: 120, Data: 131072}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, _ := newFleet(t, 3, relay.Config{Limits: tt.limits})
			a := echoTarget(t, nodes[0].r, nodes[0].addr)
			for _, via := range nodes[1:] {
				b := newClient(t, via.r, via.addr)
				st, lim, err := circuit.Connect(ctxT(t), b, via.r.ID(), a.ID())
				if err != nil {
					t.Fatal(err)
				}
				if (lim == nil) != (tt.wantLimit == nil) || lim != nil && *lim != *tt.wantLimit {
					t.Errorf("limit %+v, want %+v", lim, tt.wantLimit)
				}
				echo(t, st, tt.payload)
				io.Copy(io.Discard, st) // until A's side closes too
				waitCounter(t, via.reg, "relayd_circuits_closed_total", 1, map[string]string{"reason": "src_closed"})
				checkCounter(t, via.reg, "relayd_mesh_forwarded_circuits_total", 1, map[string]string{"direction": "out", "result": "ok"})
				checkCounter(t, via.reg, "relayd_circuits_relayed_bytes_total", float64(tt.payload), map[string]string{"direction": "src_to_dst"})
				checkCounter(t, via.reg, "relayd_mesh_forwarded_bytes_total", float64(tt.payload), map[string]string{"direction": "sent"})
			}
			// The holding node splices both circuits and counts them as
			// forwarded in, not as its own CONNECTs.
			waitCounter(t, nodes[0].reg, "relayd_mesh_forwarded_circuits_closed_total", 2, nil)
			checkCounter(t, nodes[0].reg, "relayd_mesh_forwarded_circuits_total", 2, map[string]string{"direction": "in", "result": "ok"})
			checkCounter(t, nodes[0].reg, "relayd_circuits_requests_total", 0, map[string]string{"result": "ok"})
			checkCounter(t, nodes[0].reg, "relayd_mesh_forwarded_bytes_total", float64(2*tt.payload), map[string]string{"direction": "received"})
		})
	}
}

func checkCounter(t *testing.T, reg prometheus.Gatherer, name string, want float64, labels map[string]string) {
	t.Helper()
	if got := counter(t, reg, name, labels); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// waitCounter waits for a counter that moves after the client saw the
// circuit end.
func waitCounter(t *testing.T, reg prometheus.Gatherer, name string, want float64, labels map[string]string) {
	t.Helper()
	waitUntil(t, func() bool { return counter(t, reg, name, labels) >= want })
	checkCounter(t, reg, name, want, labels)
}

// TestFleetDataCap: the entry node enforces the data cap; the holding
// node's reset reaches A.
func TestFleetDataCap(t *testing.T) {
	leakcheck.Check(t)
	const capBytes = 64 << 10
	nodes, _ := newFleet(t, 2, relay.Config{Limits: limiter.Config{LimitData: capBytes}})
	aDone := make(chan error, 1)
	a := newClient(t, nodes[0].r, nodes[0].addr)
	a.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, lim *wire.Limit, s *host.Stream) {
		defer s.Close()
		if lim == nil || lim.Data != capBytes {
			t.Errorf("A got limit %+v", lim)
		}
		s.SetDeadline(time.Now().Add(20 * time.Second))
		_, err := s.Write(make([]byte, 4*capBytes))
		aDone <- err
	}))
	if _, err := circuit.Reserve(ctxT(t), a, nodes[0].r.ID()); err != nil {
		t.Fatal(err)
	}
	b := newClient(t, nodes[1].r, nodes[1].addr)
	st, lim, err := circuit.Connect(ctxT(t), b, nodes[1].r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if lim == nil || lim.Data != capBytes {
		t.Fatalf("limit %+v", lim)
	}
	defer st.Close()
	n, err := readToEnd(t, st, "circuit was not cut at the data cap")
	if n != capBytes {
		t.Fatalf("received %d bytes through a %d-byte cap (err %v)", n, capBytes, err)
	}
	// B is done too, as an application that got its EOF would be: the
	// other direction ends, and with it the circuit on both nodes (a
	// direction still open keeps a capped circuit alive, as in go-libp2p).
	st.Close()
	<-aDone // A's writes may all fit in the windows before the cut
	waitCounter(t, nodes[1].reg, "relayd_circuits_closed_total", 1, map[string]string{"reason": "limit_data"})
	// The holder saw the reset, or A's close if that came first.
	waitCounter(t, nodes[0].reg, "relayd_mesh_forwarded_circuits_closed_total", 1, nil)
	waitUntil(t, func() bool {
		return gauge(t, nodes[0].reg, "relayd_mesh_forwarded_circuits_active") == 0 &&
			gauge(t, nodes[1].reg, "relayd_mesh_forwarded_circuits_active") == 0
	})
}

// TestFleetDurationCap: the entry node's duration cap ends the circuit on
// both legs.
func TestFleetDurationCap(t *testing.T) {
	leakcheck.Check(t)
	nodes, _ := newFleet(t, 2, relay.Config{Limits: limiter.Config{LimitDuration: time.Second}})
	aEnded := make(chan struct{})
	a := stopTarget(t, nodes[0].r, nodes[0].addr, func(s *host.Stream) {
		defer close(aEnded)
		io.Copy(s, s)
	})
	b := newClient(t, nodes[1].r, nodes[1].addr)
	st, lim, err := circuit.Connect(ctxT(t), b, nodes[1].r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if lim == nil || lim.Duration != 1 {
		t.Fatalf("limit %+v", lim)
	}
	defer st.Close()
	readToEnd(t, st, "circuit outlived its duration cap")
	<-aEnded // A's leg, on the other node, ended too
	waitCounter(t, nodes[1].reg, "relayd_circuits_closed_total", 1, map[string]string{"reason": "limit_duration"})
	waitCounter(t, nodes[0].reg, "relayd_mesh_forwarded_circuits_closed_total", 1, map[string]string{"reason": "error"})
}

// TestFleetHolderResetReachesEntry: a circuit the holding node resets (it
// shuts down) is reset at the entry node, not closed.
func TestFleetHolderResetReachesEntry(t *testing.T) {
	leakcheck.Check(t)
	nodes, _ := newFleet(t, 2, relay.Config{Limits: limiter.Config{Unlimited: true}})
	a := echoTarget(t, nodes[0].r, nodes[0].addr)
	b := newClient(t, nodes[1].r, nodes[1].addr)
	st, _, err := circuit.Connect(ctxT(t), b, nodes[1].r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	roundTrip(t, st, 1024)
	nodes[0].r.Close()
	st.SetDeadline(time.Now().Add(20 * time.Second))
	io.Copy(io.Discard, st)
	waitCounter(t, nodes[1].reg, "relayd_circuits_closed_total", 1, map[string]string{"reason": "error"})
}

// gauge sums every series of a gauge.
func gauge(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// TestFleetLinkCut: cutting the mesh link resets the circuits on it (both
// outer legs end, as errors), and the link comes back for the next one.
func TestFleetLinkCut(t *testing.T) {
	leakcheck.Check(t)
	nodes, dir := newFleet(t, 2, relay.Config{Limits: limiter.Config{Unlimited: true}})
	proxy := cutproxy.New(t, nodes[0].r.MeshAddr())
	dir.Set("node-1", proxy.Addr())
	aEnded := make(chan struct{}, 2)
	a := stopTarget(t, nodes[0].r, nodes[0].addr, func(s *host.Stream) {
		defer func() { aEnded <- struct{}{} }()
		io.Copy(s, s)
	})
	b := newClient(t, nodes[1].r, nodes[1].addr)
	st, _, err := circuit.Connect(ctxT(t), b, nodes[1].r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	roundTrip(t, st, 4096)
	proxy.Cut()
	readToEnd(t, st, "B's leg outlived the mesh link")
	<-aEnded
	waitCounter(t, nodes[1].reg, "relayd_circuits_closed_total", 1, map[string]string{"reason": "error"})
	waitCounter(t, nodes[0].reg, "relayd_mesh_forwarded_circuits_closed_total", 1, map[string]string{"reason": "error"})
	waitCounter(t, nodes[1].reg, "relayd_mesh_link_drops_total", 1, nil)
	waitCounter(t, nodes[0].reg, "relayd_mesh_link_drops_total", 1, nil)

	waitUntil(t, func() bool { return gauge(t, nodes[1].reg, "relayd_mesh_links_up") == 1 })
	st2, _, err := circuit.Connect(ctxT(t), b, nodes[1].r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	echo(t, st2, 4096)
}

// TestFleetWrongSecret: a node with another secret cannot forward; the
// holder counts the failed handshake.
func TestFleetWrongSecret(t *testing.T) {
	leakcheck.Check(t)
	nodes, _ := newFleet(t, 2, relay.Config{}, meshSecret, bytes.Repeat([]byte("w"), mesh.MinSecretSize))
	a := echoTarget(t, nodes[0].r, nodes[0].addr)
	b := newClient(t, nodes[1].r, nodes[1].addr)
	_, _, err := circuit.Connect(ctxT(t), b, nodes[1].r.ID(), a.ID())
	wantStatus(t, err, wire.StatusConnectionFailed)
	checkCounter(t, nodes[1].reg, "relayd_circuits_requests_total", 1, map[string]string{"result": "forward_failed"})
	waitCounter(t, nodes[0].reg, "relayd_mesh_handshake_failures_total", 1, map[string]string{"reason": "auth"})
	if g := gauge(t, nodes[0].reg, "relayd_mesh_links_up"); g != 0 {
		t.Errorf("links up %v with a wrong secret", g)
	}
}

// TestFleetNodeWithoutSecret: a node without a mesh secret neither
// listens nor forwards: a CONNECT for a peer held elsewhere is refused as
// before.
func TestFleetNodeWithoutSecret(t *testing.T) {
	leakcheck.Check(t)
	nodes, _ := newFleet(t, 2, relay.Config{}, meshSecret, nil)
	if a := nodes[1].r.MeshAddr(); a != "" {
		t.Fatalf("node without a secret listens for mesh links on %s", a)
	}
	a := echoTarget(t, nodes[0].r, nodes[0].addr)
	b := newClient(t, nodes[1].r, nodes[1].addr)
	_, _, err := circuit.Connect(ctxT(t), b, nodes[1].r.ID(), a.ID())
	wantStatus(t, err, wire.StatusNoReservation)
	checkCounter(t, nodes[1].reg, "relayd_circuits_requests_total", 1, map[string]string{"result": "other_node"})

	_, err = relay.New(relay.Config{Key: newKey(t), Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Mesh: mesh.Config{Listen: "127.0.0.1:0"}})
	if err == nil {
		t.Fatal("relay.New took a mesh listener without a secret")
	}
}

// TestFleetIndependentIdentities: nodes with their own keys share the
// store; a peer reached through the node it reserved on needs no mesh,
// and through another node (its own peer ID) is forwarded.
func TestFleetIndependentIdentities(t *testing.T) {
	leakcheck.Check(t)
	nodes, _ := newFleetKeys(t, 2, relay.Config{}, true)
	if nodes[0].r.ID() == nodes[1].r.ID() {
		t.Fatal("nodes share an identity")
	}
	a := echoTarget(t, nodes[0].r, nodes[0].addr)
	for _, via := range nodes {
		b := newClient(t, via.r, via.addr)
		st, _, err := circuit.Connect(ctxT(t), b, via.r.ID(), a.ID())
		if err != nil {
			t.Fatal(err)
		}
		echo(t, st, 4096)
	}
	checkCounter(t, nodes[0].reg, "relayd_mesh_forwarded_circuits_total", 0, map[string]string{"direction": "out"})
	checkCounter(t, nodes[1].reg, "relayd_mesh_forwarded_circuits_total", 1, map[string]string{"direction": "out", "result": "ok"})
}

// TestFleetManyCircuitsOneLink: concurrent circuits share the one link
// between two nodes.
func TestFleetManyCircuitsOneLink(t *testing.T) {
	leakcheck.Check(t)
	const n = 24
	nodes, _ := newFleet(t, 2, relay.Config{Limits: noRates(limiter.Config{MaxCircuitsPerPeer: n, LimitData: 1 << 20})})
	a := echoTarget(t, nodes[0].r, nodes[0].addr)
	var clients []*host.Host
	for range 3 {
		clients = append(clients, newClient(t, nodes[1].r, nodes[1].addr))
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b := clients[i%len(clients)]
			st, _, err := circuit.Connect(ctxT(t), b, nodes[1].r.ID(), a.ID())
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			st.SetDeadline(time.Now().Add(20 * time.Second))
			msg := bytes.Repeat([]byte{byte(i)}, 32<<10)
			go st.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(st, got); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("circuit %d: echo failed: %v", i, err)
			}
		})
	}
	wg.Wait()
	if g := gauge(t, nodes[1].reg, "relayd_mesh_links_up"); g != 1 {
		t.Errorf("node 2 has %v links up, want 1", g)
	}
	checkCounter(t, nodes[1].reg, "relayd_mesh_forwarded_circuits_total", n, map[string]string{"direction": "out", "result": "ok"})
}

// TestFleetHolderDrain: a draining holding node waits for the circuits
// forwarded to it and refuses new ones.
func TestFleetHolderDrain(t *testing.T) {
	leakcheck.Check(t)
	nodes, _ := newFleet(t, 2, relay.Config{Limits: limiter.Config{Unlimited: true}})
	a := echoTarget(t, nodes[0].r, nodes[0].addr)
	b := newClient(t, nodes[1].r, nodes[1].addr)
	st, _, err := circuit.Connect(ctxT(t), b, nodes[1].r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := nodes[0].r.Drain(ctx); err == nil {
		t.Fatal("drain finished with a forwarded circuit open")
	}
	_, _, err = circuit.Connect(ctxT(t), b, nodes[1].r.ID(), a.ID())
	wantStatus(t, err, wire.StatusResourceLimitExceeded)
	checkCounter(t, nodes[1].reg, "relayd_circuits_requests_total", 1, map[string]string{"result": "forward_refused"})
	echo(t, st, 1024) // the open circuit still runs
}
