package fleet

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/redistest"
	"github.com/relayd/relayd/limiter"
)

// TestOneScriptPerReserve: a RESERVE costs one Redis script (the quota
// script writes the record; the Put that follows does not write again),
// a CONNECT to a local reservation none, and the metrics say so.
func TestOneScriptPerReserve(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	lim, _ := limiter.New(limiter.Config{})
	n, err := New(Config{URL: srv.URL(), NodeID: "a", Prefix: "ops:", Metrics: reg}, lim)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	before := opCounts(t, reg)
	p := peerAt(t, "192.0.2.1")
	for range 3 { // a reservation and two refreshes
		if err := reserve(t, n, p); err != nil {
			t.Fatal(err)
		}
	}
	if holder(t, n, p) != "a" {
		t.Fatal("reservation not found")
	}
	after := opCounts(t, reg)
	for op, want := range map[string]uint64{"reserve": 3, "put": 0, "get": 0} {
		if got := after[op] - before[op]; got != want {
			t.Errorf("%s operations: %d, want %d", op, got, want)
		}
	}
	if up := gauge(t, reg, "relayd_redis_up"); up != 1 {
		t.Errorf("relayd_redis_up = %v", up)
	}
	if nodes := gauge(t, reg, "relayd_fleet_nodes"); nodes != 1 {
		t.Errorf("relayd_fleet_nodes = %v", nodes)
	}
}

func opCounts(t *testing.T, reg *prometheus.Registry) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]uint64)
	for _, mf := range mfs {
		if mf.GetName() != "relayd_redis_operation_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s not registered", name)
	return 0
}
