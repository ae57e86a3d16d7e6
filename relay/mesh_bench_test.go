package relay_test

import (
	"slices"
	"testing"
	"time"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/relay"
)

// BenchmarkFleetCircuitSetup is CONNECT through a two-node fleet, stop
// exchange included: local (B on A's node) and forwarded (B on the other
// node). It reports the p50 and p99 of one setup besides the mean.
func BenchmarkFleetCircuitSetup(b *testing.B) {
	for _, tt := range []struct {
		name string
		via  int
	}{{"local", 0}, {"forwarded", 1}} {
		b.Run(tt.name, func(b *testing.B) {
			nodes, _ := newFleet(b, 2, relay.Config{Limits: noRates(limiter.Config{MaxCircuitsPerPeer: 1 << 20, MaxCircuits: -1})})
			a := echoTarget(b, nodes[0].r, nodes[0].addr)
			via := nodes[tt.via]
			c := newClient(b, via.r, via.addr)
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				st, _, err := circuit.Connect(ctxT(b), c, via.r.ID(), a.ID())
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
				st.Close()
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkFleetThroughput pushes 64 KiB writes one way through one
// unlimited circuit, local or forwarded, to a target that discards them.
func BenchmarkFleetThroughput(b *testing.B) {
	for _, tt := range []struct {
		name string
		via  int
	}{{"local", 0}, {"forwarded", 1}} {
		b.Run(tt.name, func(b *testing.B) {
			nodes, _ := newFleet(b, 2, relay.Config{Limits: limiter.Config{Unlimited: true}})
			a := sinkTarget(b, nodes[0].r, nodes[0].addr)
			via := nodes[tt.via]
			c := newClient(b, via.r, via.addr)
			st, _, err := circuit.Connect(ctxT(b), c, via.r.ID(), a.ID())
			if err != nil {
				b.Fatal(err)
			}
			benchWrites(b, st)
		})
	}
}
