package limiter

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/relayd/relayd/p2p/identity"
)

func TestMetricsLabelClassesNotPeers(t *testing.T) {
	reg := prometheus.NewRegistry()
	trusted, denied := peer(t), peer(t)
	cfg := noRates(Config{
		DenyPeers: []identity.PeerID{denied},
		Classes:   []Class{{Name: "trusted", Peers: []identity.PeerID{trusted}, Limits: Unrestricted()}},
	})
	var l *Limiter
	m := NewMetrics(reg, cfg.ClassNames(), func() map[string]ClassCounts { return l.Counts() })
	cfg.Tracer = m
	l = newLimiter(t, cfg)

	reserve(l, trusted, ip("192.0.2.1"))
	reserve(l, peer(t), ip("192.0.2.2"))
	reserve(l, denied, ip("192.0.2.3"))
	c, err := l.OpenCircuit(Peer{trusted, ip("192.0.2.1")}, peer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	want := `
# HELP relayd_limiter_circuits_active Circuits open, by the class of the peer that asked for them.
# TYPE relayd_limiter_circuits_active gauge
relayd_limiter_circuits_active{class="default"} 0
relayd_limiter_circuits_active{class="denied"} 0
relayd_limiter_circuits_active{class="trusted"} 1
# HELP relayd_limiter_reservations_active Reservation slots held, by the holder's class.
# TYPE relayd_limiter_reservations_active gauge
relayd_limiter_reservations_active{class="default"} 1
relayd_limiter_reservations_active{class="denied"} 0
relayd_limiter_reservations_active{class="trusted"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"relayd_limiter_circuits_active", "relayd_limiter_reservations_active"); err != nil {
		t.Error(err)
	}
	for _, tt := range []struct {
		req           Request
		class, result string
		want          float64
	}{
		{RequestReserve, "trusted", "ok", 1},
		{RequestReserve, "default", "ok", 1},
		{RequestReserve, "denied", "acl_denied", 1},
		{RequestConnect, "trusted", "ok", 1},
		{RequestConnect, "default", "rate", 0}, // created at 0
	} {
		got := testutil.ToFloat64(m.decisions.WithLabelValues(string(tt.req), tt.class, tt.result))
		if got != tt.want {
			t.Errorf("decisions{%s,%s,%s} = %v, want %v", tt.req, tt.class, tt.result, got, tt.want)
		}
	}
	out, err := testutil.CollectAndFormat(m.decisions, expfmt.TypeTextPlain, "relayd_limiter_decisions_total")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `class="trusted"`) || strings.Contains(string(out), trusted.String()) {
		t.Error("a peer ID leaked into a label")
	}
}
