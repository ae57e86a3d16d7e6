package probe

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports probe results for black-box monitoring of a relay.
type Metrics struct {
	runs          *prometheus.CounterVec
	success       prometheus.Gauge
	last          prometheus.Gauge
	step          *prometheus.GaugeVec
	punches       *prometheus.CounterVec
	attempts      prometheus.Gauge
	timeToDirect  prometheus.Gauge
	limitDuration prometheus.Gauge
	limitData     prometheus.Gauge
}

// NewMetrics registers the probe's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_probe_runs_total", Help: "Probes run, by result (ok, fail).",
		}, []string{"result"}),
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_probe_success", Help: "1 if the last probe succeeded, else 0.",
		}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_probe_last_run_timestamp_seconds", Help: "Unix time the last probe finished.",
		}),
		step: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "relayd_probe_step_duration_seconds", Help: "Duration of each step of the last probe (reserve, connect, echo).",
		}, []string{"step"}),
		punches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_probe_holepunch_total", Help: "Hole punches run, by outcome (direct, relayed) and transport of the direct connection.",
		}, []string{"outcome", "transport"}),
		attempts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_probe_holepunch_attempts", Help: "DCUtR rounds the last hole punch took.",
		}),
		timeToDirect: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_probe_holepunch_time_to_direct_seconds", Help: "Time from the circuit to the direct connection in the last successful hole punch.",
		}),
		limitDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_probe_limit_duration_seconds", Help: "Circuit duration limit the relay announced (0: none).",
		}),
		limitData: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_probe_limit_data_bytes", Help: "Circuit data limit per direction the relay announced (0: none).",
		}),
	}
	reg.MustRegister(m.runs, m.success, m.last, m.step, m.punches, m.attempts, m.timeToDirect, m.limitDuration, m.limitData)
	return m
}

// Observe records one probe's report.
func (m *Metrics) Observe(r *Report) {
	result, ok := "fail", 0.0
	if r.OK {
		result, ok = "ok", 1
	}
	m.runs.WithLabelValues(result).Inc()
	m.success.Set(ok)
	m.last.Set(float64(time.Now().UnixNano()) / 1e9)
	for name, s := range map[string]*Seconds{"reserve": r.Reserve, "connect": r.Connect, "echo": r.Echo} {
		if s != nil {
			m.step.WithLabelValues(name).Set(float64(*s))
		}
	}
	if r.Limit != nil {
		m.limitDuration.Set(float64(r.Limit.DurationSeconds))
		m.limitData.Set(float64(r.Limit.DataBytes))
	} else if r.Connect != nil || r.Reserve != nil {
		m.limitDuration.Set(0)
		m.limitData.Set(0)
	}
	if hp := r.HolePunch; hp != nil {
		outcome := "relayed"
		if hp.Direct {
			outcome = "direct"
			m.timeToDirect.Set(float64(*hp.TimeToDirect))
		}
		m.punches.WithLabelValues(outcome, hp.Transport).Inc()
		m.attempts.Set(float64(hp.Attempts))
	}
}
