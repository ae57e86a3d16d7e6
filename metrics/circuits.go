package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/circuit"
)

var (
	// knownInvalidReasons are the refusals of hop streams that were
	// neither RESERVE nor CONNECT.
	knownInvalidReasons = []string{"malformed", "unexpected_type"}
	knownEnds           = []circuit.End{
		circuit.EndLimitDuration, circuit.EndLimitData, circuit.EndSrcClosed,
		circuit.EndDstClosed, circuit.EndError, circuit.EndShutdown,
	}
	// durationBucketsSecs span a quick hand-over to hours of an unlimited
	// circuit; 120 s is the default duration cap.
	durationBucketsSecs = []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
	// peerClosedBucketsSecs are fine below and around 10 s, the time a
	// successful hole punch needs before the peers drop the circuit.
	peerClosedBucketsSecs = []float64{.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120}
)

// ConnectRefusals are the CONNECT refusal reasons created at zero.
func ConnectRefusals() []string {
	return refusalReasons("relayed_conn", "malformed", "no_reservation", "other_node",
		"store_error", "stop_failed", "error", "draining", "forward_refused", "forward_failed")
}

// Circuits counts CONNECT requests, circuits and relayed bytes.
type Circuits struct {
	active     prometheus.Gauge
	requests   *prometheus.CounterVec
	ok         prometheus.Counter
	invalid    *prometheus.CounterVec
	closed     *prometheus.CounterVec
	duration   prometheus.Histogram
	peerClosed prometheus.Histogram
	// Resolved once: BytesRelayed runs per copied buffer and must not
	// look up (or allocate) a label set.
	toDst, toSrc prometheus.Counter
}

// NewCircuits builds the circuit collectors and registers them on reg.
func NewCircuits(reg prometheus.Registerer) *Circuits {
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relayd_circuits_relayed_bytes_total",
		Help: "Payload bytes copied through circuits, by direction (src is the peer that sent CONNECT).",
	}, []string{"direction"})
	c := &Circuits{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_circuits_active",
			Help: "Circuits splicing bytes now.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_circuits_requests_total",
			Help: `CONNECT requests answered, by result: "ok" or the refusal reason.`,
		}, []string{"result"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_circuits_invalid_requests_total",
			Help: "Hop streams refused because they carried neither RESERVE nor CONNECT, by reason.",
		}, []string{"reason"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_circuits_closed_total",
			Help: "Circuits ended, by reason.",
		}, []string{"reason"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "relayd_circuits_duration_seconds",
			Help:    "Lifetime of every circuit, from the OK answer to its end.",
			Buckets: durationBucketsSecs,
		}),
		peerClosed: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "relayd_circuits_peer_closed_duration_seconds",
			Help:    "Lifetime of circuits a peer ended (src_closed, dst_closed); le=10 approximates hand-overs to a hole-punched connection.",
			Buckets: peerClosedBucketsSecs,
		}),
		toDst: bytes.WithLabelValues("src_to_dst"),
		toSrc: bytes.WithLabelValues("dst_to_src"),
	}
	c.ok = c.requests.WithLabelValues(resultOK)
	for _, r := range ConnectRefusals() {
		c.requests.WithLabelValues(r)
	}
	for _, r := range knownInvalidReasons {
		c.invalid.WithLabelValues(r)
	}
	for _, e := range knownEnds {
		c.closed.WithLabelValues(string(e))
	}
	reg.MustRegister(c.active, c.requests, c.invalid, bytes, c.closed, c.duration, c.peerClosed)
	return c
}

// Opened counts an OK answer to CONNECT: a circuit starts.
func (c *Circuits) Opened() {
	c.ok.Inc()
	c.active.Inc()
}

// Refused counts a refused CONNECT.
func (c *Circuits) Refused(reason string) {
	c.requests.WithLabelValues(reason).Inc()
}

// Invalid counts a hop stream that was neither RESERVE nor CONNECT.
func (c *Circuits) Invalid(reason string) {
	c.invalid.WithLabelValues(reason).Inc()
}

// Closed counts a circuit's end. The closed counter moves last, so that
// whoever sees it move sees the histograms and the gauge moved too.
func (c *Circuits) Closed(end circuit.End, lifetime time.Duration) {
	secs := lifetime.Seconds()
	c.duration.Observe(secs)
	if end == circuit.EndSrcClosed || end == circuit.EndDstClosed {
		c.peerClosed.Observe(secs)
	}
	c.active.Dec()
	c.closed.WithLabelValues(string(end)).Inc()
}

// BytesRelayed counts n bytes copied; toDst is the src→dst direction. It
// does not allocate.
func (c *Circuits) BytesRelayed(toDst bool, n int) {
	if toDst {
		c.toDst.Add(float64(n))
		return
	}
	c.toSrc.Add(float64(n))
}
