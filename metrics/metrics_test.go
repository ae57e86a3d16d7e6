package metrics_test

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/metrics"
)

func newRelay(t testing.TB) (*metrics.Relay, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return metrics.NewRelay(reg, func() int { return 0 }), reg
}

// value is the value of name{labels} (a histogram's sample count), or an
// error if that series is not exported.
func value(reg prometheus.Gatherer, name string, labels ...string) (float64, error) {
	fams, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range fams {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue() +
					float64(m.GetHistogram().GetSampleCount()), nil
			}
		}
	}
	return 0, fmt.Errorf("%s%v not exported", name, labels)
}

func hasLabels(m *dto.Metric, labels []string) bool {
	if len(m.GetLabel())*2 != len(labels) {
		return false
	}
	for i, l := range m.GetLabel() { // labels are sorted by name
		if labels[2*i] != l.GetName() || labels[2*i+1] != l.GetValue() {
			return false
		}
	}
	return true
}

func mustValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	v, err := value(reg, name, labels...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSeriesExistAtZero: every known label combination is exported, at
// zero, before any event.
func TestSeriesExistAtZero(t *testing.T) {
	_, reg := newRelay(t)
	for _, reasons := range [][]string{metrics.ReserveRefusals(), metrics.ConnectRefusals()} {
		if !slices.Contains(reasons, "total_quota") || !slices.Contains(reasons, "draining") || hasDup(reasons) {
			t.Errorf("refusal reasons %q: want the limiter's and the service's, each once", reasons)
		}
	}
	want := map[string]int{ // family → series count
		"relayd_connections_active":                     4, // tcp, ws, wss, quic
		"relayd_connections_accepted_total":             4,
		"relayd_connections_refused_total":              1 + 4 + 4 + 1,
		"relayd_connections_handshake_duration_seconds": 4,
		"relayd_connections_handshake_failures_total":   6 + 7 + 7 + 2,
		"relayd_connections_parked":                     1,
		"relayd_connections_parks_total":                1,
		"relayd_reservations_active":                    1,
		"relayd_reservations_requests_total":            1 + len(metrics.ReserveRefusals()),
		"relayd_reservations_refreshes_total":           1,
		"relayd_reservations_expirations_total":         1,
		"relayd_reservations_disconnections_total":      1,
		"relayd_circuits_active":                        1,
		"relayd_circuits_requests_total":                1 + len(metrics.ConnectRefusals()),
		"relayd_circuits_invalid_requests_total":        2,
		"relayd_circuits_relayed_bytes_total":           2,
		"relayd_circuits_closed_total":                  6,
		"relayd_circuits_duration_seconds":              1,
		"relayd_circuits_peer_closed_duration_seconds":  1,
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]int)
	for _, mf := range fams {
		got[mf.GetName()] = len(mf.GetMetric())
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount()); v != 0 {
				t.Errorf("%s%v = %v before any event", mf.GetName(), m.GetLabel(), v)
			}
		}
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s: %d series, want %d", name, got[name], n)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected family %s (add it to this test and doc.go)", name)
		}
	}
}

func hasDup(ss []string) bool {
	seen := make(map[string]bool)
	for _, s := range ss {
		if seen[s] {
			return true
		}
		seen[s] = true
	}
	return false
}

// TestEvents: each tracer event moves exactly the series it should.
func TestEvents(t *testing.T) {
	tests := []struct {
		name   string
		event  func(*metrics.Relay)
		metric string
		labels []string
		want   float64
	}{
		{"inbound conn", func(r *metrics.Relay) { r.Connections.ConnOpened("tcp", true, time.Millisecond) },
			"relayd_connections_accepted_total", []string{"transport", "tcp"}, 1},
		{"inbound conn is active", func(r *metrics.Relay) { r.Connections.ConnOpened("tcp", true, time.Millisecond) },
			"relayd_connections_active", []string{"transport", "tcp"}, 1},
		{"handshake observed", func(r *metrics.Relay) { r.Connections.ConnOpened("tcp", true, time.Millisecond) },
			"relayd_connections_handshake_duration_seconds", []string{"transport", "tcp"}, 1},
		{"outbound conn is not accepted", func(r *metrics.Relay) { r.Connections.ConnOpened("tcp", false, time.Millisecond) },
			"relayd_connections_accepted_total", []string{"transport", "tcp"}, 0},
		{"conn closed", func(r *metrics.Relay) {
			r.Connections.ConnOpened("tcp", true, 0)
			r.Connections.ConnClosed("tcp", true)
		}, "relayd_connections_active", []string{"transport", "tcp"}, 0},
		{"refused", func(r *metrics.Relay) { r.Connections.ConnRefused("tcp", "handshake_limit") },
			"relayd_connections_refused_total", []string{"reason", "handshake_limit", "transport", "tcp"}, 1},
		{"new transport appears", func(r *metrics.Relay) { r.Connections.HandshakeFailed("webtransport", "tls") },
			"relayd_connections_handshake_failures_total", []string{"stage", "tls", "transport", "webtransport"}, 1},
		{"reserved", func(r *metrics.Relay) { r.ReservationAccepted(false) },
			"relayd_reservations_requests_total", []string{"result", "ok"}, 1},
		{"refresh is ok", func(r *metrics.Relay) { r.ReservationAccepted(true) },
			"relayd_reservations_requests_total", []string{"result", "ok"}, 1},
		{"refresh counted", func(r *metrics.Relay) { r.ReservationAccepted(true) },
			"relayd_reservations_refreshes_total", nil, 1},
		{"new reservation is no refresh", func(r *metrics.Relay) { r.ReservationAccepted(false) },
			"relayd_reservations_refreshes_total", nil, 0},
		{"expired", func(r *metrics.Relay) { r.ReservationEnded("expired") },
			"relayd_reservations_expirations_total", nil, 1},
		{"disconnected", func(r *metrics.Relay) { r.ReservationEnded("disconnected") },
			"relayd_reservations_disconnections_total", nil, 1},
		{"reserve refused", func(r *metrics.Relay) { r.HopRefused("reserve", "total_quota") },
			"relayd_reservations_requests_total", []string{"result", "total_quota"}, 1},
		{"new reserve reason appears", func(r *metrics.Relay) { r.HopRefused("reserve", "asn_quota") },
			"relayd_reservations_requests_total", []string{"result", "asn_quota"}, 1},
		{"connect refused", func(r *metrics.Relay) { r.HopRefused("connect", "no_reservation") },
			"relayd_circuits_requests_total", []string{"result", "no_reservation"}, 1},
		{"invalid hop", func(r *metrics.Relay) { r.HopRefused("unknown", "malformed") },
			"relayd_circuits_invalid_requests_total", []string{"reason", "malformed"}, 1},
		{"connect refusal is no reserve refusal", func(r *metrics.Relay) { r.HopRefused("connect", "relayed_conn") },
			"relayd_reservations_requests_total", []string{"result", "relayed_conn"}, 0},
		{"opened", func(r *metrics.Relay) { r.CircuitOpened() },
			"relayd_circuits_requests_total", []string{"result", "ok"}, 1},
		{"opened is active", func(r *metrics.Relay) { r.CircuitOpened() }, "relayd_circuits_active", nil, 1},
		{"closed", func(r *metrics.Relay) {
			r.CircuitOpened()
			r.CircuitClosed(circuit.EndLimitData, time.Second)
		}, "relayd_circuits_closed_total", []string{"reason", "limit_data"}, 1},
		{"closed is inactive", func(r *metrics.Relay) {
			r.CircuitOpened()
			r.CircuitClosed(circuit.EndLimitData, time.Second)
		}, "relayd_circuits_active", nil, 0},
		{"bytes to dst", func(r *metrics.Relay) { r.BytesRelayed(true, 100); r.BytesRelayed(false, 7) },
			"relayd_circuits_relayed_bytes_total", []string{"direction", "src_to_dst"}, 100},
		{"bytes to src", func(r *metrics.Relay) { r.BytesRelayed(true, 100); r.BytesRelayed(false, 7) },
			"relayd_circuits_relayed_bytes_total", []string{"direction", "dst_to_src"}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, reg := newRelay(t)
			tt.event(r)
			if got := mustValue(t, reg, tt.metric, tt.labels...); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
}

// TestLifetimeHistograms: every circuit lands in the duration histogram;
// only those a peer ended land in the hole-punch proxy, whose le="10"
// bucket counts the quick ones.
func TestLifetimeHistograms(t *testing.T) {
	r, reg := newRelay(t)
	r.CircuitClosed(circuit.EndSrcClosed, 3*time.Second)
	r.CircuitClosed(circuit.EndDstClosed, 9*time.Second)
	r.CircuitClosed(circuit.EndDstClosed, 20*time.Second)
	r.CircuitClosed(circuit.EndLimitDuration, 2*time.Minute)
	r.CircuitClosed(circuit.EndShutdown, time.Second)
	want := `
# HELP relayd_circuits_peer_closed_duration_seconds Lifetime of circuits a peer ended (src_closed, dst_closed); le=10 approximates hand-overs to a hole-punched connection.
# TYPE relayd_circuits_peer_closed_duration_seconds histogram
relayd_circuits_peer_closed_duration_seconds_bucket{le="0.5"} 0
relayd_circuits_peer_closed_duration_seconds_bucket{le="1"} 0
relayd_circuits_peer_closed_duration_seconds_bucket{le="2"} 0
relayd_circuits_peer_closed_duration_seconds_bucket{le="3"} 1
relayd_circuits_peer_closed_duration_seconds_bucket{le="5"} 1
relayd_circuits_peer_closed_duration_seconds_bucket{le="7.5"} 1
relayd_circuits_peer_closed_duration_seconds_bucket{le="10"} 2
relayd_circuits_peer_closed_duration_seconds_bucket{le="15"} 2
relayd_circuits_peer_closed_duration_seconds_bucket{le="20"} 3
relayd_circuits_peer_closed_duration_seconds_bucket{le="30"} 3
relayd_circuits_peer_closed_duration_seconds_bucket{le="60"} 3
relayd_circuits_peer_closed_duration_seconds_bucket{le="120"} 3
relayd_circuits_peer_closed_duration_seconds_bucket{le="+Inf"} 3
relayd_circuits_peer_closed_duration_seconds_sum 32
relayd_circuits_peer_closed_duration_seconds_count 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "relayd_circuits_peer_closed_duration_seconds"); err != nil {
		t.Error(err)
	}
	if got := mustValue(t, reg, "relayd_circuits_duration_seconds"); got != 5 {
		t.Errorf("duration histogram holds %v circuits, want 5", got)
	}
}

func TestReservationsActiveReadsSource(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := 0
	metrics.NewRelay(reg, func() int { return n })
	for _, want := range []int{0, 7, 3} {
		n = want
		if got := mustValue(t, reg, "relayd_reservations_active"); got != float64(want) {
			t.Errorf("relayd_reservations_active = %v, want %d", got, want)
		}
	}
}

// TestRegisterTwicePanics: a second node on the same registry is a bug
// that must not pass silently (AlreadyRegistered is never swallowed).
func TestRegisterTwicePanics(t *testing.T) {
	_, reg := newRelay(t)
	defer func() {
		if recover() == nil {
			t.Error("registering a second relay on one registry did not panic")
		}
	}()
	metrics.NewRelay(reg, func() int { return 0 })
}

func TestRegisterRuntime(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.RegisterRuntime(reg, "1.2.3", "abc1234")
	if got := mustValue(t, reg, "relayd_build_info", "commit", "abc1234", "go_version", runtime.Version(), "version", "1.2.3"); got != 1 {
		t.Errorf("relayd_build_info = %v, want 1", got)
	}
	names := []string{"go_goroutines", "go_memstats_heap_inuse_bytes"}
	if runtime.GOOS == "linux" {
		names = append(names, "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds")
	}
	for _, name := range names {
		if _, err := value(reg, name); err != nil {
			t.Error(err)
		}
	}
}

// TestBytesRelayedDoesNotAllocate: the per-buffer hook of the splice
// must cost no allocation.
func TestBytesRelayedDoesNotAllocate(t *testing.T) {
	r, _ := newRelay(t)
	var tracer circuit.Tracer = r // as the circuit service calls it
	allocs := testing.AllocsPerRun(1000, func() {
		tracer.BytesRelayed(true, 16<<10)
		tracer.BytesRelayed(false, 1500)
	})
	if allocs != 0 {
		t.Errorf("BytesRelayed allocates %v times per call pair, want 0", allocs)
	}
}

func BenchmarkBytesRelayed(b *testing.B) {
	r, _ := newRelay(b)
	var tracer circuit.Tracer = r
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		toDst := false
		for pb.Next() {
			tracer.BytesRelayed(toDst, 16<<10)
			toDst = !toDst
		}
	})
}
