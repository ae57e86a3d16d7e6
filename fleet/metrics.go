package fleet

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ops are the Redis operations measured, created at zero.
var ops = []string{"reserve", "put", "get", "delete", "sweep", "heartbeat", "count", "sync", "leave", "mesh_addr"}

// metrics are the node's collectors; nil-safe, so a node without a
// registry measures nothing.
type metrics struct {
	duration     *prometheus.HistogramVec
	errors       *prometheus.CounterVec
	up           prometheus.Gauge
	resyncs      prometheus.Counter
	reservations prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, n *Node) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "relayd_redis_operation_duration_seconds",
			Help:    "Redis operations (one script or command each), by operation, failed ones included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_redis_errors_total",
			Help: "Redis operations that failed (timeout, connection, server error), by operation.",
		}, []string{"op"}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_redis_up",
			Help: "1 while Redis answers and this node is registered in it, else 0.",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relayd_redis_reregistrations_total",
			Help: "Times this node re-registered its reservations in Redis (start, Redis back, heartbeat lapsed).",
		}),
		reservations: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_fleet_reservations",
			Help: "Live reservations in the whole fleet, as of this node's last heartbeat.",
		}),
	}
	for _, op := range ops {
		m.duration.WithLabelValues(op)
		m.errors.WithLabelValues(op)
	}
	nodes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "relayd_fleet_nodes",
		Help: "Live nodes in the fleet (this one included), as of this node's last heartbeat.",
	}, func() float64 { return float64(n.Nodes()) })
	reg.MustRegister(m.duration, m.errors, m.up, m.resyncs, m.reservations, nodes)
	return m
}

func (m *metrics) observe(op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		m.errors.WithLabelValues(op).Inc()
	}
}

func (m *metrics) setUp(up bool) {
	if m == nil {
		return
	}
	if up {
		m.up.Set(1)
	} else {
		m.up.Set(0)
	}
}

func (m *metrics) resynced() {
	if m != nil {
		m.resyncs.Inc()
	}
}

func (m *metrics) setFleetReservations(n int) {
	if m != nil {
		m.reservations.Set(float64(n))
	}
}
