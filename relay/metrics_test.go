package relay_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/metrics"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
)

// series is one expected sample: the exposed name (histograms by their
// _count or _bucket sample), its labels as name, value pairs, and value.
type series struct {
	name   string
	labels []string
	want   float64
}

// TestMetricsOverHTTP runs known operations against a relay and checks
// the exact values its /metrics endpoint serves over HTTP: 3 reservations
// (one refreshed once), one RESERVE refused by the quota, 2 echoed
// circuits that the source closes, one CONNECT refused for lack of a
// reservation, one circuit cut at its data cap, one failed handshake, and
// finally one reserving peer leaving.
func TestMetricsOverHTTP(t *testing.T) {
	leakcheck.Check(t)
	const capBytes, payload = 32 << 10, 10_000
	reg := prometheus.NewRegistry()
	r, addr := newTestRelay(t, relay.Config{
		Metrics: reg,
		Limits:  limiter.Config{LimitData: capBytes, MaxReservations: 3},
	})
	admin := newAdmin(t, reg, r)

	a := echoTarget(t, r, addr)
	c := echoTarget(t, r, addr)
	f := floodTarget(t, r, addr, 4*capBytes)
	if _, err := circuit.Reserve(ctxT(t), a, r.ID()); err != nil { // refresh
		t.Fatal(err)
	}
	b := newClient(t, r, addr)
	_, err := circuit.Reserve(ctxT(t), b, r.ID())
	wantStatus(t, err, wire.StatusReservationRefused)

	for range 2 {
		st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
		if err != nil {
			t.Fatal(err)
		}
		echo(t, st, payload) // closes st: the source ends the circuit
	}
	_, _, err = circuit.Connect(ctxT(t), b, r.ID(), b.ID())
	wantStatus(t, err, wire.StatusNoReservation)
	if n := readCut(t, b, r, f); n != capBytes {
		t.Fatalf("data-capped circuit carried %d bytes, want %d", n, capBytes)
	}
	failHandshake(t, addr)

	// The relay records a circuit's end after the client sees it, and a
	// scrape is no snapshot: wait until every series reads as expected
	// (an overshoot never does, so the values stay exact).
	waitSeries(t, admin, []series{
		{"relayd_connections_active", []string{"transport", "tcp"}, 4},
		{"relayd_connections_accepted_total", []string{"transport", "tcp"}, 4},
		{"relayd_connections_refused_total", []string{"transport", "tcp", "reason", "handshake_limit"}, 0},
		{"relayd_connections_handshake_duration_seconds_count", []string{"transport", "tcp"}, 4},
		{"relayd_connections_handshake_failures_total", []string{"transport", "tcp", "stage", "security_negotiation"}, 1},
		{"relayd_connections_handshake_failures_total", []string{"transport", "tcp", "stage", "noise"}, 0},

		{"relayd_reservations_active", nil, 3},
		{"relayd_reservations_requests_total", []string{"result", "ok"}, 4},
		{"relayd_reservations_requests_total", []string{"result", "total_quota"}, 1},
		{"relayd_reservations_requests_total", []string{"result", "relayed_conn"}, 0},
		{"relayd_reservations_requests_total", []string{"result", "draining"}, 0},
		{"relayd_reservations_refreshes_total", nil, 1},
		{"relayd_reservations_expirations_total", nil, 0},
		{"relayd_reservations_disconnections_total", nil, 0},

		{"relayd_circuits_active", nil, 0},
		{"relayd_circuits_requests_total", []string{"result", "ok"}, 3},
		{"relayd_circuits_requests_total", []string{"result", "no_reservation"}, 1},
		{"relayd_circuits_requests_total", []string{"result", "circuit_quota"}, 0},
		{"relayd_circuits_requests_total", []string{"result", "draining"}, 0},
		{"relayd_circuits_invalid_requests_total", []string{"reason", "malformed"}, 0},
		{"relayd_circuits_relayed_bytes_total", []string{"direction", "src_to_dst"}, 2 * payload},
		{"relayd_circuits_relayed_bytes_total", []string{"direction", "dst_to_src"}, 2*payload + capBytes},
		{"relayd_circuits_closed_total", []string{"reason", "src_closed"}, 2},
		{"relayd_circuits_closed_total", []string{"reason", "limit_data"}, 1},
		{"relayd_circuits_closed_total", []string{"reason", "dst_closed"}, 0},
		{"relayd_circuits_closed_total", []string{"reason", "limit_duration"}, 0},
		{"relayd_circuits_closed_total", []string{"reason", "error"}, 0},
		{"relayd_circuits_closed_total", []string{"reason", "shutdown"}, 0},
		{"relayd_circuits_duration_seconds_count", nil, 3},
		{"relayd_circuits_peer_closed_duration_seconds_count", nil, 2},
		{"relayd_circuits_peer_closed_duration_seconds_bucket", []string{"le", "10"}, 2},
	})

	c.Close() // a reserving peer leaves: its slot goes
	waitSeries(t, admin, []series{
		{"relayd_reservations_disconnections_total", nil, 1},
		{"relayd_reservations_active", nil, 2},
		{"relayd_connections_active", []string{"transport", "tcp"}, 3},
	})
}

func newAdmin(t *testing.T, g prometheus.Gatherer, r *relay.Relay) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(metrics.NewAdminHandler(metrics.AdminConfig{Gatherer: g, Ready: r.Ready}))
	t.Cleanup(srv.Close)
	return srv
}

// floodTarget reserves and, on each circuit, writes n bytes at once.
func floodTarget(t *testing.T, r *relay.Relay, addr ma.Multiaddr, n int) *host.Host {
	t.Helper()
	h := newClient(t, r, addr)
	h.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(20 * time.Second))
		s.Write(make([]byte, n))
	}))
	if _, err := circuit.Reserve(ctxT(t), h, r.ID()); err != nil {
		t.Fatal(err)
	}
	return h
}

// readCut opens a circuit from src to dst and reads until the relay ends
// it; it returns the bytes received.
func readCut(t *testing.T, src *host.Host, r *relay.Relay, dst *host.Host) int64 {
	t.Helper()
	st, _, err := circuit.Connect(ctxT(t), src, r.ID(), dst.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(20 * time.Second))
	n, _ := io.Copy(io.Discard, st)
	return n
}

// failHandshake opens a raw connection and closes it unspoken: the relay
// fails it at security negotiation.
func failHandshake(t *testing.T, addr ma.Multiaddr) {
	t.Helper()
	na, err := manet.ToNetAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", na.String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

// fams is a parsed /metrics answer.
type fams map[string]*dto.MetricFamily

func scrape(t *testing.T, srv *httptest.Server) fams {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	f, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return f
}

// waitSeries scrapes until every series has its value, for at most 10 s,
// then reports those that do not.
func waitSeries(t *testing.T, srv *httptest.Server, want []series) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		bad := mismatches(scrape(t, srv), want)
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, b := range bad {
				t.Error(b)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func checkSeries(t *testing.T, f fams, want []series) {
	t.Helper()
	for _, b := range mismatches(f, want) {
		t.Error(b)
	}
}

func mismatches(f fams, want []series) []string {
	var out []string
	for _, s := range want {
		got, err := f.value(s.name, s.labels...)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s%v: %v", s.name, s.labels, err))
		case got != s.want:
			out = append(out, fmt.Sprintf("%s%v = %v, want %v", s.name, s.labels, got, s.want))
		}
	}
	return out
}

// value finds one sample; histogram samples are addressed as the text
// format names them (_count, _sum, _bucket with an "le" label).
func (f fams) value(name string, labels ...string) (float64, error) {
	family, suffix := name, ""
	for _, s := range []string{"_count", "_sum", "_bucket"} {
		if base, ok := strings.CutSuffix(name, s); ok && f[base].GetType() == dto.MetricType_HISTOGRAM {
			family, suffix = base, s
		}
	}
	mf := f[family]
	if mf == nil {
		return 0, fmt.Errorf("family %s not exported", family)
	}
	want, le := labelMap(labels)
	for _, m := range mf.GetMetric() {
		if matches(m, want) {
			return sampleValue(mf.GetType(), m, suffix, le)
		}
	}
	return 0, fmt.Errorf("series not exported")
}

// labelMap pairs up labels; "le" is split off for histogram buckets.
func labelMap(labels []string) (map[string]string, string) {
	want := make(map[string]string)
	var le string
	for i := 0; i+1 < len(labels); i += 2 {
		if labels[i] == "le" {
			le = labels[i+1]
			continue
		}
		want[labels[i]] = labels[i+1]
	}
	return want, le
}

func matches(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, l := range m.GetLabel() {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

func sampleValue(typ dto.MetricType, m *dto.Metric, suffix, le string) (float64, error) {
	switch {
	case typ == dto.MetricType_COUNTER:
		return m.GetCounter().GetValue(), nil
	case typ == dto.MetricType_GAUGE:
		return m.GetGauge().GetValue(), nil
	case suffix == "_count":
		return float64(m.GetHistogram().GetSampleCount()), nil
	case suffix == "_sum":
		return m.GetHistogram().GetSampleSum(), nil
	case suffix == "_bucket":
		bound, err := strconv.ParseFloat(le, 64)
		if err != nil {
			return 0, fmt.Errorf("bad le %q", le)
		}
		for _, b := range m.GetHistogram().GetBucket() {
			if b.GetUpperBound() == bound {
				return float64(b.GetCumulativeCount()), nil
			}
		}
		return 0, fmt.Errorf("no bucket le=%s", le)
	}
	return 0, fmt.Errorf("unsupported sample of a %v", typ)
}
