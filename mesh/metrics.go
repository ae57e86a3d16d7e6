package mesh

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/circuit"
)

// Handshake failure reasons (relayd_mesh_handshake_failures_total).
const (
	failAuth      = "auth"       // Noise with the pre-shared key failed: wrong or no secret
	failWrongNode = "wrong_node" // the dialer wanted another node
	failVersion   = "version"    // another mesh protocol version
	failMalformed = "malformed"  // a Hello that does not parse
	failIO        = "io"         // the connection failed or timed out mid-handshake
)

// Forwarded circuit results (relayd_mesh_forwarded_circuits_total).
const (
	resultOK      = "ok"
	resultRefused = "refused" // the holding node answered a status other than OK
	resultFailed  = "failed"  // no link, or it failed before an answer
)

// Metrics are the mesh's collectors:
//
//	relayd_mesh_links_up                                    gauge: links to other nodes, established now
//	relayd_mesh_link_drops_total                            links that ended while the node was running
//	relayd_mesh_handshake_failures_total{reason}            auth, wrong_node, version, malformed, io
//	relayd_mesh_forwarded_circuits_total{direction,result}  direction out (entry node) or in (holding node); result ok, refused, failed
//	relayd_mesh_forwarded_circuits_active{direction}        gauge
//	relayd_mesh_forwarded_circuits_closed_total{reason}     how circuits forwarded in ended, as the holding node saw it
//	relayd_mesh_forwarded_bytes_total{direction}            circuit bytes over mesh streams: sent, received
type Metrics struct {
	linksUp           prometheus.Gauge
	linkDrops         prometheus.Counter
	handshakeFailures *prometheus.CounterVec
	forwarded         *prometheus.CounterVec
	active            *prometheus.GaugeVec
	closedIn          *prometheus.CounterVec
	// Resolved once: the stream counts per record.
	sent, received prometheus.Counter
}

// NewMetrics registers the mesh's collectors on reg, every label
// combination at zero. A node without a mesh registers them too, so
// dashboards and alerts see zeros rather than nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relayd_mesh_forwarded_bytes_total",
		Help: "Circuit bytes carried over mesh links, by direction (sent, received).",
	}, []string{"direction"})
	m := &Metrics{
		linksUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relayd_mesh_links_up",
			Help: "Mesh links to other fleet nodes established now.",
		}),
		linkDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relayd_mesh_link_drops_total",
			Help: "Mesh links that ended while this node was running (the dialing side redials).",
		}),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_mesh_handshake_failures_total",
			Help: `Mesh connections dropped in the handshake, by reason ("auth": wrong or no cluster secret).`,
		}, []string{"reason"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_mesh_forwarded_circuits_total",
			Help: "Circuits forwarded over the mesh: out from the entry node, in at the holding node, by result.",
		}, []string{"direction", "result"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "relayd_mesh_forwarded_circuits_active",
			Help: "Forwarded circuits open now, by direction (out, in).",
		}, []string{"direction"}),
		closedIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_mesh_forwarded_circuits_closed_total",
			Help: "Circuits forwarded in that ended, by reason as the holding node saw it.",
		}, []string{"reason"}),
		sent:     bytes.WithLabelValues("sent"),
		received: bytes.WithLabelValues("received"),
	}
	for _, r := range []string{failAuth, failWrongNode, failVersion, failMalformed, failIO} {
		m.handshakeFailures.WithLabelValues(r)
	}
	for _, d := range []string{"out", "in"} {
		m.active.WithLabelValues(d)
		for _, r := range []string{resultOK, resultRefused, resultFailed} {
			m.forwarded.WithLabelValues(d, r)
		}
	}
	for _, e := range []circuit.End{circuit.EndSrcClosed, circuit.EndDstClosed, circuit.EndError, circuit.EndShutdown} {
		m.closedIn.WithLabelValues(string(e))
	}
	reg.MustRegister(m.linksUp, m.linkDrops, m.handshakeFailures, m.forwarded, m.active, m.closedIn, bytes)
	return m
}
