package interop

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
)

const (
	fleetCompareDials        = 100
	fleetCompareReservations = 200
	fleetCompareBytes        = 32 << 20
	fleetCompareRuns         = 3
	fleetComparePings        = 500
)

// TestFleetCompare prints the fleet's numbers for the closing note, skipped
// unless RELAYD_COMPARE=1 (like TestCompare; it is not run in CI):
//
//	RELAYD_COMPARE=1 go test -run FleetCompare -v ./
//
// On one 3-node fleet (shared identity, one redis-server, --unlimited, no
// quotas or rates): circuit setup p50/p99 of sequential dials plus a
// one-byte round trip, local (target reserved on the entry node) against
// forwarded (entered on node 2, held by node 1); throughput of one local
// and one forwarded circuit (best of 3 × 32 MiB into a sink); and Redis
// commands per reservation (INFO commandstats around N reservations spread
// over the nodes, less the heartbeats of an idle window as long).
// Clients, nodes and Redis share the machine's cores: the numbers are noisy.
func TestFleetCompare(t *testing.T) {
	if os.Getenv("RELAYD_COMPARE") != "1" {
		t.Skip("set RELAYD_COMPARE=1 to measure the fleet")
	}
	f := startFleet(t, startRedis(t), 3, []string{defaultListen}, "--unlimited",
		"--max-reservations", "100000", "--max-reservations-per-ip", "0", "--max-reservations-per-subnet", "0")
	n1, n2 := f.Nodes[0], f.Nodes[1]
	a := newTarget(t, n1.relayProc)

	var out strings.Builder
	for _, p := range []struct {
		name string
		via  *fleetNode
	}{{"local (n1→n1)", n1}, {"forwarded (n2→n1)", n2}} {
		samples := make([]time.Duration, 0, fleetCompareDials)
		calls0 := redisCalls(t, f.RedisURL)
		dialStart := time.Now()
		for i := range fleetCompareDials {
			b := newHost(t)
			d, err := timedCircuitRoundTrip(t, b, p.via.relayProc, a)
			b.Close()
			if err != nil {
				t.Fatalf("%s dial %d: %v", p.name, i, err)
			}
			samples = append(samples, d)
		}
		calls := 0
		for _, n := range diffCalls(redisCalls(t, f.RedisURL), calls0) {
			calls += n
		}
		slices.Sort(samples)
		fmt.Fprintf(&out, "%-20s %d dials in %v: %.2f Redis commands per dial (heartbeats included)\n", p.name,
			fleetCompareDials, time.Since(dialStart).Round(time.Millisecond), float64(calls)/fleetCompareDials)
		b := newHost(t)
		dialCircuit(t, b, p.via.relayProc, a.ID())
		rtt := pingPong(t, b, a.ID(), fleetComparePings)
		sinkTransfer(t, b, a.ID(), 1<<20) // warm-up
		best := time.Duration(1<<63 - 1)
		for range fleetCompareRuns {
			best = min(best, sinkTransfer(t, b, a.ID(), fleetCompareBytes))
		}
		b.Close()
		fmt.Fprintf(&out, "%-20s setup p50 %7.2f ms  p99 %7.2f ms  1-byte RTT p50 %6.3f ms  p99 %6.3f ms  throughput %7.1f MiB/s\n", p.name,
			msOf(samples[len(samples)/2]), msOf(samples[len(samples)*99/100]),
			msOf(rtt[len(rtt)/2]), msOf(rtt[len(rtt)*99/100]),
			float64(fleetCompareBytes)/(1<<20)/best.Seconds())
	}

	hosts := make([]host.Host, fleetCompareReservations)
	for i := range hosts {
		hosts[i] = newHost(t)
	}
	idle0 := redisCalls(t, f.RedisURL)
	start := time.Now()
	for i, h := range hosts {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, err := client.Reserve(ctx, h, f.Nodes[i%3].Info)
		cancel()
		if err != nil {
			t.Fatalf("reservation %d: %v", i, err)
		}
	}
	took := time.Since(start)
	busy := redisCalls(t, f.RedisURL)
	time.Sleep(took) // an idle window as long: heartbeats and counts only
	idle1 := redisCalls(t, f.RedisURL)
	idle := diffCalls(idle1, busy)
	res := diffCalls(busy, idle0)
	var parts []string
	total, bg := 0.0, 0.0
	for cmd, n := range res {
		per := (float64(n) - float64(idle[cmd])) / fleetCompareReservations
		total += float64(n)
		bg += float64(idle[cmd])
		parts = append(parts, fmt.Sprintf("%s %.2f", cmd, per))
	}
	slices.Sort(parts)
	fmt.Fprintf(&out, "reservations: %d sequential over 3 nodes in %v (%.0f/s)\n", fleetCompareReservations, took.Round(time.Millisecond),
		fleetCompareReservations/took.Seconds())
	fmt.Fprintf(&out, "Redis commands per reservation (less idle heartbeats): %.2f  [%s]\n",
		(total-bg)/fleetCompareReservations, strings.Join(parts, ", "))
	fmt.Fprintf(&out, "(idle window: %.0f commands in %v, heartbeat TTL %v on 3 nodes)\n", bg, took.Round(time.Millisecond), fleetHeartbeatTTL)
	t.Log("\n" + out.String())
	if p := os.Getenv("RELAYD_COMPARE_OUT"); p != "" {
		_ = os.WriteFile(p, []byte(out.String()), 0o644)
	}
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// redisCalls is INFO commandstats: calls per command, INFO itself left out.
func redisCalls(t *testing.T, url string) map[string]int {
	t.Helper()
	calls := map[string]int{}
	for _, l := range strings.Split(redisCLI(t, url, "INFO", "commandstats"), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":calls=")
		if !ok || name == "cmdstat_info" {
			continue
		}
		n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
		calls[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return calls
}

func diffCalls(after, before map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		if v-before[k] != 0 {
			d[k] = v - before[k]
		}
	}
	return d
}

// pingPong times n one-byte round trips on one echo stream over an
// established circuit: the latency a forwarding hop adds per round trip,
// without the dial.
func pingPong(t *testing.T, b host.Host, target peer.ID, n int) []time.Duration {
	t.Helper()
	s, err := b.NewStream(limitedCtx(t, streamTimeout), target, echoProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	_ = s.SetDeadline(time.Now().Add(streamTimeout))
	buf := []byte{7}
	rtt := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := s.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatal(err)
		}
		rtt = append(rtt, time.Since(start))
	}
	slices.Sort(rtt)
	return rtt
}
