package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The relay's own figures bench reads from its /metrics: the process
// collector's RSS, the Go collector's heap, stacks and goroutines, and
// relayd's reservations gauge. Another relay (go-libp2p's) exports the
// process_* and go_* ones too; without the gauge, the reservations bench
// made are the divisor.
const (
	metricRSS          = "process_resident_memory_bytes"
	metricCPU          = "process_cpu_seconds_total"
	metricHeapInuse    = "go_memstats_heap_inuse_bytes"
	metricStackInuse   = "go_memstats_stack_inuse_bytes"
	metricGoroutines   = "go_goroutines"
	metricReservations = "relayd_reservations_active"
)

// relaySample is one scrape of the relay's metrics. Reservations is -1
// when the relay does not export relayd_reservations_active.
type relaySample struct {
	RSS          float64 `json:"rss_bytes"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	HeapInuse    float64 `json:"heap_inuse_bytes"`
	StackInuse   float64 `json:"stack_inuse_bytes"`
	Goroutines   float64 `json:"goroutines"`
	Reservations float64 `json:"reservations"`
}

// relayMemory is what the relay's own metrics say the held reservations
// cost it: the difference between a scrape before the reservations phase
// and one after the hold, divided by the reservations added.
type relayMemory struct {
	URL    string      `json:"url"`
	Before relaySample `json:"before"`
	After  relaySample `json:"after"`
	// Reservations is the divisor: the growth of the relay's reservations
	// gauge, or the reservations bench made if the relay has no gauge
	// (ReservationsFrom says which: "relay" or "bench").
	Reservations     float64 `json:"reservations"`
	ReservationsFrom string  `json:"reservations_from"`
	PerReservation   struct {
		RSS float64 `json:"rss_bytes"`
		// CPUMillis is the relay's CPU time from the first scrape to the
		// second (handshakes, RESERVE, the idle hold) per reservation.
		CPUMillis  float64 `json:"cpu_ms"`
		HeapInuse  float64 `json:"heap_inuse_bytes"`
		StackInuse float64 `json:"stack_inuse_bytes"`
		Goroutines float64 `json:"goroutines"`
	} `json:"per_reservation"`
}

// checkMetricsURL accepts an http or https URL with a host.
func checkMetricsURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--metrics %q: want the relay's admin URL, e.g. http://127.0.0.1:9494/metrics", s)
	}
	return nil
}

// scrapeRelay reads one relaySample from the Prometheus text at url.
func scrapeRelay(ctx context.Context, url string) (relaySample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return relaySample{}, err
	}
	// Text format: the parser below reads nothing else.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return relaySample{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return relaySample{}, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseRelaySample(resp.Body)
}

// parseRelaySample picks the figures out of a Prometheus text exposition.
// The memory and goroutine figures are required; the reservations gauge is
// -1 when absent.
func parseRelaySample(r io.Reader) (relaySample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return relaySample{}, fmt.Errorf("parse metrics: %w", err)
	}
	var s relaySample
	var missing []string
	for _, m := range []struct {
		name string
		dst  *float64
	}{
		{metricRSS, &s.RSS},
		{metricCPU, &s.CPUSeconds},
		{metricHeapInuse, &s.HeapInuse},
		{metricStackInuse, &s.StackInuse},
		{metricGoroutines, &s.Goroutines},
	} {
		v, ok := sumFamily(fams[m.name])
		if !ok {
			missing = append(missing, m.name)
		}
		*m.dst = v
	}
	if len(missing) > 0 {
		return relaySample{}, fmt.Errorf("metrics lack %v (is this a relay's /metrics?)", missing)
	}
	s.Reservations = -1
	if v, ok := sumFamily(fams[metricReservations]); ok {
		s.Reservations = v
	}
	return s, nil
}

// sumFamily adds up a gauge's (or untyped metric's) series; false if there
// are none.
func sumFamily(f *dto.MetricFamily) (float64, bool) {
	if f == nil || len(f.GetMetric()) == 0 {
		return 0, false
	}
	var sum float64
	for _, m := range f.GetMetric() {
		switch {
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			sum += m.GetUntyped().GetValue()
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		default:
			return 0, false
		}
	}
	return sum, true
}

// newRelayMemory computes the per-reservation figures; made is how many
// reservations bench holds.
func newRelayMemory(url string, before, after relaySample, made int) (*relayMemory, error) {
	m := &relayMemory{URL: url, Before: before, After: after}
	if before.Reservations >= 0 && after.Reservations >= 0 {
		m.Reservations, m.ReservationsFrom = after.Reservations-before.Reservations, "relay"
	} else {
		m.Reservations, m.ReservationsFrom = float64(made), "bench"
	}
	if m.Reservations <= 0 {
		return nil, fmt.Errorf("the relay's %s went from %v to %v while bench held %d reservations: is --metrics this relay's?",
			metricReservations, before.Reservations, after.Reservations, made)
	}
	n := m.Reservations
	m.PerReservation.RSS = (after.RSS - before.RSS) / n
	m.PerReservation.CPUMillis = (after.CPUSeconds - before.CPUSeconds) * 1000 / n
	m.PerReservation.HeapInuse = (after.HeapInuse - before.HeapInuse) / n
	m.PerReservation.StackInuse = (after.StackInuse - before.StackInuse) / n
	m.PerReservation.Goroutines = (after.Goroutines - before.Goroutines) / n
	return m, nil
}

// writeRelayMemory prints the relay's figures under the phase table.
func writeRelayMemory(w io.Writer, m *relayMemory) error {
	fmt.Fprintf(w, "\nrelay %s, %.0f reservations (counted by %s)\n\n", m.URL, m.Reservations, m.ReservationsFrom)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "relay\tbefore\tafter\tper reservation")
	kib := func(v float64) string { return fmt.Sprintf("%.1f KiB", v/1024) }
	mib := func(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }
	p := m.PerReservation
	fmt.Fprintf(tw, "rss\t%s\t%s\t%s\n", mib(m.Before.RSS), mib(m.After.RSS), kib(p.RSS))
	fmt.Fprintf(tw, "cpu\t%.2fs\t%.2fs\t%.3f ms\n", m.Before.CPUSeconds, m.After.CPUSeconds, p.CPUMillis)
	fmt.Fprintf(tw, "heap in use\t%s\t%s\t%s\n", mib(m.Before.HeapInuse), mib(m.After.HeapInuse), kib(p.HeapInuse))
	fmt.Fprintf(tw, "stacks in use\t%s\t%s\t%s\n", mib(m.Before.StackInuse), mib(m.After.StackInuse), kib(p.StackInuse))
	fmt.Fprintf(tw, "goroutines\t%.0f\t%.0f\t%.2f\n", m.Before.Goroutines, m.After.Goroutines, p.Goroutines)
	return tw.Flush()
}
