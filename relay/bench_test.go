package relay_test

import (
	ma "github.com/multiformats/go-multiaddr"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/relay"
)

// BenchmarkRelayedThroughput pushes bytes one way through one unlimited
// circuit (client → relay → target, which discards them).
func BenchmarkRelayedThroughput(b *testing.B) {
	benchThroughput(b, relay.Config{Limits: limiter.Config{Unlimited: true}})
}

// BenchmarkRelayedThroughputWithMetrics is BenchmarkRelayedThroughput with
// metrics on: the per-buffer byte counters must not show in allocs/op or
// in throughput.
func BenchmarkRelayedThroughputWithMetrics(b *testing.B) {
	benchThroughput(b, relay.Config{Limits: limiter.Config{Unlimited: true}, Metrics: prometheus.NewRegistry()})
}

func benchThroughput(b *testing.B, cfg relay.Config) {
	r, addr := newTestRelay(b, cfg)
	benchCircuit(b, r, addr)
}

// benchCircuit pushes 64 KiB writes one way through one circuit via the
// relay's listener at addr, to a target that discards them.
func benchCircuit(b *testing.B, r *relay.Relay, addr ma.Multiaddr) {
	a := sinkTarget(b, r, addr)
	c := newClient(b, r, addr)
	st, _, err := circuit.Connect(ctxT(b), c, r.ID(), a.ID())
	if err != nil {
		b.Fatal(err)
	}
	benchWrites(b, st)
}

// benchWrites is b.N writes of 64 KiB on st, timed until the sink behind
// it has them all.
func benchWrites(b *testing.B, st *host.Stream) {
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
}

// BenchmarkReserveRefresh is RESERVE round trips on one connection: the
// relay-side cost of a reservation without the handshake.
func BenchmarkReserveRefresh(b *testing.B) {
	r, addr := newTestRelay(b, relay.Config{Limits: noRates(limiter.Config{})})
	c := newClient(b, r, addr)
	b.ResetTimer()
	for range b.N {
		if _, err := circuit.Reserve(ctxT(b), c, r.ID()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnectReserve is a new peer connecting (TCP, Noise, yamux)
// and reserving: what a reconnect storm costs.
func BenchmarkConnectReserve(b *testing.B) {
	r, addr := newTestRelay(b, relay.Config{
		Limits: noRates(limiter.Config{MaxReservations: 1 << 20, MaxReservationsPerIP: -1, MaxReservationsPerSubnet: -1}),
		Conns:  host.ConnLimits{MaxConns: -1, ConnRatePerIP: limiter.NoRate},
	})
	b.ResetTimer()
	for range b.N {
		c := newClient(b, r, addr)
		if _, err := circuit.Reserve(ctxT(b), c, r.ID()); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkCircuitSetup is CONNECT through the relay, stop exchange
// included, then closing the circuit.
func BenchmarkCircuitSetup(b *testing.B) {
	r, addr := newTestRelay(b, relay.Config{Limits: noRates(limiter.Config{MaxCircuitsPerPeer: 1 << 20, MaxCircuits: -1})})
	a := echoTarget(b, r, addr)
	c := newClient(b, r, addr)
	b.ResetTimer()
	for range b.N {
		st, _, err := circuit.Connect(ctxT(b), c, r.ID(), a.ID())
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
}
