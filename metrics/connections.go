package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/p2p/host"
)

// upgradeStages are the stages of the multistream → Noise → yamux upgrade
// that TCP and WebSocket connections go through.
var upgradeStages = []string{"security_negotiation", "noise", "muxer_negotiation", "muxer", "timeout", "unknown"}

// knownConnLabels are, per transport, the refusal reasons and failed
// handshake stages the host reports today (host.Tracer); each combination
// is created at zero. Values a later release adds appear when first seen.
var knownConnLabels = []struct {
	transport        string
	refusals, stages []string
}{
	{"tcp", []string{"handshake_limit"}, upgradeStages},
	{"ws", wsRefusals, append([]string{"websocket"}, upgradeStages...)},
	{"wss", wsRefusals, append([]string{"websocket"}, upgradeStages...)},
	{"quic", []string{"handshake_limit"}, []string{"tls", "timeout"}},
}

var (
	wsRefusals                       = []string{"handshake_limit", "not_websocket", "bad_path", "accept_timeout"}
	handshakeBucketsSecs             = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	_                    host.Tracer = (*Connections)(nil)
)

// Connections counts the host's connections; it is a host.Tracer.
type Connections struct {
	active    *prometheus.GaugeVec
	accepted  *prometheus.CounterVec
	refused   *prometheus.CounterVec
	handshake *prometheus.HistogramVec
	failures  *prometheus.CounterVec
	parked    prometheus.Gauge
	parks     prometheus.Counter
}

// NewConnections builds the connection collectors and registers them on
// reg (it panics if they are already registered there).
func NewConnections(reg prometheus.Registerer) *Connections {
	c := &Connections{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "relayd_connections_active",
			Help: "Upgraded connections open now, by transport.",
		}, []string{"transport"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_connections_accepted_total",
			Help: "Inbound connections that completed their upgrade (security + muxer).",
		}, []string{"transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_connections_refused_total",
			Help: "Inbound raw connections closed before their handshake, by reason.",
		}, []string{"transport", "reason"}),
		handshake: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "relayd_connections_handshake_duration_seconds",
			Help:    "Time from accepting a connection to a completed upgrade.",
			Buckets: handshakeBucketsSecs,
		}, []string{"transport"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_connections_handshake_failures_total",
			Help: "Inbound upgrades that failed, by the stage that failed.",
		}, []string{"transport", "stage"}),
		parked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_connections_parked",
			Help: "Idle TCP connections whose yamux session is shut down until a stream needs it (park_idle).",
		}),
		parks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relayd_connections_parks_total",
			Help: "Times an idle TCP connection's yamux session was shut down (park_idle).",
		}),
	}
	for _, k := range knownConnLabels {
		c.active.WithLabelValues(k.transport)
		c.accepted.WithLabelValues(k.transport)
		c.handshake.WithLabelValues(k.transport)
		for _, r := range k.refusals {
			c.refused.WithLabelValues(k.transport, r)
		}
		for _, s := range k.stages {
			c.failures.WithLabelValues(k.transport, s)
		}
	}
	reg.MustRegister(c.active, c.accepted, c.refused, c.handshake, c.failures, c.parked, c.parks)
	return c
}

// ConnOpened implements host.Tracer. Outbound connections count as active
// but not as accepted.
func (c *Connections) ConnOpened(transport string, inbound bool, handshake time.Duration) {
	c.active.WithLabelValues(transport).Inc()
	if inbound {
		c.accepted.WithLabelValues(transport).Inc()
		c.handshake.WithLabelValues(transport).Observe(handshake.Seconds())
	}
}

// ConnClosed implements host.Tracer.
func (c *Connections) ConnClosed(transport string, _ bool) {
	c.active.WithLabelValues(transport).Dec()
}

// ConnRefused implements host.Tracer.
func (c *Connections) ConnRefused(transport, reason string) {
	c.refused.WithLabelValues(transport, reason).Inc()
}

// HandshakeFailed implements host.Tracer.
func (c *Connections) HandshakeFailed(transport, stage string) {
	c.failures.WithLabelValues(transport, stage).Inc()
}

// ConnParked implements host.Tracer.
func (c *Connections) ConnParked(parked bool) {
	if parked {
		c.parked.Inc()
		c.parks.Inc()
		return
	}
	c.parked.Dec()
}
