package relay_test

import (
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/relay"
)

// TestCircuitDroppedWithResetIsPeerClosed: go-libp2p drops a relayed
// connection (after a hole punch, say) by resetting its circuit stream.
// The relay must count that as the peer closing the circuit, so the
// dashboard's share of circuits handed over within 10 s sees it, and not
// as an error. QUIC, because its streams have a real reset on both ends.
func TestCircuitDroppedWithResetIsPeerClosed(t *testing.T) {
	leakcheck.Check(t)
	const payload = 1000
	reg := prometheus.NewRegistry()
	r, addr := newTestRelay(t, relay.Config{Metrics: reg, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1")}})
	admin := newAdmin(t, reg, r)
	a := echoTarget(t, r, addr)
	b := newClient(t, r, addr)
	st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(20 * time.Second))
	roundTrip(t, st, payload)
	st.Reset()
	waitSeries(t, admin, []series{
		{"relayd_circuits_active", nil, 0},
		{"relayd_circuits_closed_total", []string{"reason", "src_closed"}, 1},
		{"relayd_circuits_closed_total", []string{"reason", "error"}, 0},
		{"relayd_circuits_peer_closed_duration_seconds_count", nil, 1},
		{"relayd_circuits_peer_closed_duration_seconds_bucket", []string{"le", "10"}, 1},
	})
}
