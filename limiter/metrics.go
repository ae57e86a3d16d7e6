package limiter

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the limiter's collectors, labelled by class name (never by
// peer or address, whose cardinality is unbounded):
//
//	relayd_limiter_decisions_total{request,class,result}  result: ok or the refusal reason
//	relayd_limiter_reservations_active{class}            slots held
//	relayd_limiter_circuits_active{class}                circuits open, by the requester's class
type Metrics struct {
	decisions *prometheus.CounterVec
}

// NewMetrics registers the collectors on reg. classes are the class names
// to create at 0 (Limiter.Classes of the first config; classes a reload
// adds appear when first seen); counts reads the gauges at scrape time
// (Limiter.Counts).
func NewMetrics(reg prometheus.Registerer, classes []string, counts func() map[string]ClassCounts) *Metrics {
	m := &Metrics{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relayd_limiter_decisions_total",
		Help: `Policy decisions on RESERVE and CONNECT requests, by requester class and result ("ok" or the refusal reason).`,
	}, []string{"request", "class", "result"})}
	results := append([]string{"ok"}, Reasons()...)
	for _, cl := range classes {
		for _, req := range []Request{RequestReserve, RequestConnect} {
			for _, r := range results {
				m.decisions.WithLabelValues(string(req), cl, r)
			}
		}
	}
	reg.MustRegister(m.decisions, &countsCollector{counts: counts, classes: classes})
	return m
}

// Decided counts one decision.
func (m *Metrics) Decided(req Request, class, result string) {
	m.decisions.WithLabelValues(string(req), class, result).Inc()
}

var (
	reservationsDesc = prometheus.NewDesc("relayd_limiter_reservations_active",
		"Reservation slots held, by the holder's class.", []string{"class"}, nil)
	circuitsDesc = prometheus.NewDesc("relayd_limiter_circuits_active",
		"Circuits open, by the class of the peer that asked for them.", []string{"class"}, nil)
)

// countsCollector reads the limiter's counts at scrape time; the classes
// it was built with are always reported, at 0 when empty.
type countsCollector struct {
	counts  func() map[string]ClassCounts
	classes []string
}

func (c *countsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- reservationsDesc
	ch <- circuitsDesc
}

func (c *countsCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.counts()
	for _, cl := range c.classes {
		if _, ok := counts[cl]; !ok {
			counts[cl] = ClassCounts{}
		}
	}
	for cl, n := range counts {
		ch <- prometheus.MustNewConstMetric(reservationsDesc, prometheus.GaugeValue, float64(n.Reservations), cl)
		ch <- prometheus.MustNewConstMetric(circuitsDesc, prometheus.GaugeValue, float64(n.Circuits), cl)
	}
}
