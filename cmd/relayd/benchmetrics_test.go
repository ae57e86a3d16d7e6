package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/metrics"
)

// TestBenchRelayMetrics runs bench with --metrics against an in-process
// relay whose registry is served as the daemon's admin endpoint serves it.
// Relay and clients share this process, so only the shape of the figures
// and the gauge's count are checked, not their size.
func TestBenchRelayMetrics(t *testing.T) {
	leakcheck.Check(t)
	for _, asJSON := range []bool{true, false} {
		// A relay per run: the one before drops its clients'
		// reservations only as it sees them leave.
		reg := prometheus.NewRegistry()
		metrics.RegisterRuntime(reg, "test", "test")
		cfg := relaxed()
		cfg.Metrics = reg
		addr := benchRelay(t, cfg)
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		t.Cleanup(srv.Close)
		args := []string{"bench", "--reservations", "6", "--concurrency", "3", "--circuits", "0", "--bytes", "0", "--timeout", "60s", "--metrics", srv.URL + "/metrics"}
		if asJSON {
			args = append(args, "--json")
		}
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append(args, addr), &out, &errOut); code != exitOK {
			t.Fatalf("bench exit %d: %s%s", code, out.String(), errOut.String())
		}
		if !asJSON {
			for _, want := range []string{"6 reservations (counted by relay)", "per reservation", "rss", "cpu", "heap in use", "stacks in use", "goroutines"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("table lacks %q:\n%s", want, out.String())
				}
			}
			continue
		}
		var rep benchReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
		}
		m := rep.RelayMemory
		if m == nil {
			t.Fatalf("no relay_memory in %s", out.String())
		}
		if m.ReservationsFrom != "relay" || m.Reservations != 6 || m.After.Reservations < 6 {
			t.Errorf("reservations %v from %q (after %v), want 6 from the relay's gauge", m.Reservations, m.ReservationsFrom, m.After.Reservations)
		}
		if !(m.After.RSS > 0 && m.After.CPUSeconds > 0 && m.After.HeapInuse > 0 && m.After.StackInuse > 0) {
			t.Errorf("after = %+v, want positive memory figures", m.After)
		}
		// Each held connection parks goroutines on both of its ends.
		if !(m.PerReservation.Goroutines > 0) {
			t.Errorf("goroutines per reservation = %v, want > 0", m.PerReservation.Goroutines)
		}
	}
}

func TestBenchRelayMetricsUnreachable(t *testing.T) {
	leakcheck.Check(t)
	addr := benchRelay(t, relaxed())
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	var out, errOut bytes.Buffer
	args := []string{"bench", "--reservations", "2", "--circuits", "0", "--bytes", "0", "--timeout", "60s", "--metrics", srv.URL + "/metrics", addr}
	if code := run(context.Background(), args, &out, &errOut); code != exitFailure {
		t.Fatalf("bench exit %d, want %d", code, exitFailure)
	}
	if want := "relay metrics: scrape"; !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), "404") {
		t.Errorf("stderr %q, want %q and the 404", errOut.String(), want)
	}
}

func TestParseRelaySample(t *testing.T) {
	const base = `# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.048576e+08
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 2.5
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 4e+07
# TYPE go_memstats_stack_inuse_bytes gauge
go_memstats_stack_inuse_bytes 2e+07
# TYPE go_goroutines gauge
go_goroutines 3012
`
	tests := []struct {
		name    string
		text    string
		want    relaySample
		wantErr string
	}{
		{"go-libp2p: no gauge", base, relaySample{RSS: 1 << 20 * 100, CPUSeconds: 2.5, HeapInuse: 4e7, StackInuse: 2e7, Goroutines: 3012, Reservations: -1}, ""},
		{"relayd: gauge", base + "# TYPE relayd_reservations_active gauge\nrelayd_reservations_active 1000\n",
			relaySample{RSS: 1 << 20 * 100, CPUSeconds: 2.5, HeapInuse: 4e7, StackInuse: 2e7, Goroutines: 3012, Reservations: 1000}, ""},
		{"missing rss", strings.Replace(base, "process_resident_memory_bytes", "other", -1), relaySample{}, "process_resident_memory_bytes"},
		{"not metrics", "<html>hello</html>\n", relaySample{}, "parse metrics"},
	}
	for _, tt := range tests {
		got, err := parseRelaySample(strings.NewReader(tt.text))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want one containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestNewRelayMemory(t *testing.T) {
	before := relaySample{RSS: 100 << 20, CPUSeconds: 1, HeapInuse: 10 << 20, StackInuse: 1 << 20, Goroutines: 20, Reservations: 0}
	after := relaySample{RSS: 100<<20 + 1000*20<<10, CPUSeconds: 3, HeapInuse: 10<<20 + 1000*8<<10, StackInuse: 1<<20 + 1000*6<<10, Goroutines: 3020, Reservations: 1000}
	m, err := newRelayMemory("u", before, after, 1200)
	if err != nil {
		t.Fatal(err)
	}
	p := m.PerReservation
	if m.Reservations != 1000 || m.ReservationsFrom != "relay" || p.RSS != 20<<10 || p.CPUMillis != 2 || p.HeapInuse != 8<<10 || p.StackInuse != 6<<10 || p.Goroutines != 3 {
		t.Errorf("got %+v per %v from %s", p, m.Reservations, m.ReservationsFrom)
	}
	// Without the gauge (another relay), bench's count divides.
	before.Reservations, after.Reservations = -1, -1
	if m, err = newRelayMemory("u", before, after, 1000); err != nil || m.ReservationsFrom != "bench" || m.PerReservation.Goroutines != 3 {
		t.Errorf("no gauge: %+v, %v", m, err)
	}
	// A gauge that did not grow: the URL is not this relay's.
	before.Reservations, after.Reservations = 5, 5
	if _, err := newRelayMemory("u", before, after, 1000); err == nil || !strings.Contains(err.Error(), "is --metrics this relay's?") {
		t.Errorf("flat gauge: err %v", err)
	}
}
