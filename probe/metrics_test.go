package probe

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	ttd := Seconds(0.25)
	m.Observe(&Report{OK: true, Reserve: secs(1), Limit: &LimitReport{DurationSeconds: 120, DataBytes: 131072},
		HolePunch: &PunchReport{Direct: true, Transport: "quic", Attempts: 1, TimeToDirect: &ttd}})
	m.Observe(&Report{OK: false, HolePunch: &PunchReport{Attempts: 3}})
	want := `
# HELP relayd_probe_holepunch_total Hole punches run, by outcome (direct, relayed) and transport of the direct connection.
# TYPE relayd_probe_holepunch_total counter
relayd_probe_holepunch_total{outcome="direct",transport="quic"} 1
relayd_probe_holepunch_total{outcome="relayed",transport=""} 1
# HELP relayd_probe_runs_total Probes run, by result (ok, fail).
# TYPE relayd_probe_runs_total counter
relayd_probe_runs_total{result="fail"} 1
relayd_probe_runs_total{result="ok"} 1
# HELP relayd_probe_success 1 if the last probe succeeded, else 0.
# TYPE relayd_probe_success gauge
relayd_probe_success 0
# HELP relayd_probe_holepunch_attempts DCUtR rounds the last hole punch took.
# TYPE relayd_probe_holepunch_attempts gauge
relayd_probe_holepunch_attempts 3
# HELP relayd_probe_limit_data_bytes Circuit data limit per direction the relay announced (0: none).
# TYPE relayd_probe_limit_data_bytes gauge
relayd_probe_limit_data_bytes 131072
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "relayd_probe_holepunch_total", "relayd_probe_runs_total",
		"relayd_probe_success", "relayd_probe_holepunch_attempts", "relayd_probe_limit_data_bytes"); err != nil {
		t.Error(err)
	}
}
