package relay_test

import (
	"io"
	"testing"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/relay"
)

// BenchmarkRelayedThroughputPerTransport pushes bytes one way through one
// unlimited circuit whose two legs both use the named transport (client →
// relay → target, which discards them), on loopback.
func BenchmarkRelayedThroughputPerTransport(b *testing.B) {
	for _, label := range labels {
		b.Run(label, func(b *testing.B) {
			r, addrs := newMultiRelay(b, relay.Config{Limits: limiter.Config{Unlimited: true}})
			a := sinkTarget(b, r, addrs[label])
			c := newClient(b, r, addrs[label])
			st, _, err := circuit.Connect(ctxT(b), c, r.ID(), a.ID())
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := st.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			st.Close()
			io.Copy(io.Discard, st) // wait for the sink to finish
		})
	}
}
