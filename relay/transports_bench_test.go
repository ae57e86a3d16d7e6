package relay_test

import (
	"testing"

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
			benchCircuit(b, r, addrs[label])
		})
	}
}
