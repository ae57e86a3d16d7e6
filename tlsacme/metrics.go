package tlsacme

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector is the manager's metrics; a nil registerer gives a collector
// that counts nothing.
type collector struct {
	renewals *prometheus.CounterVec
	obtains  *prometheus.CounterVec
	expiry   *prometheus.Desc
	m        *Manager
}

func newCollector(reg prometheus.Registerer, m *Manager) *collector {
	c := &collector{
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_tls_renewals_total",
			Help: "Certificate renewals attempted, by result (success, failure).",
		}, []string{"result"}),
		obtains: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relayd_tls_obtains_total",
			Help: "First-time certificate orders, by result (success, failure).",
		}, []string{"result"}),
		expiry: prometheus.NewDesc("relayd_tls_certificate_expiry_timestamp_seconds",
			"Expiry (notAfter, Unix seconds) of the certificate served for each ACME domain; absent until one is held.",
			[]string{"domain"}, nil),
		m: m,
	}
	for _, r := range []string{"success", "failure"} {
		c.renewals.WithLabelValues(r)
		c.obtains.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}

func (c *collector) outcome(renewal bool, result string) {
	if renewal {
		c.renewals.WithLabelValues(result).Inc()
	} else {
		c.obtains.WithLabelValues(result).Inc()
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.renewals.Describe(ch)
	c.obtains.Describe(ch)
	ch <- c.expiry
}

// Collect reads expiries from the certificate cache at scrape time, so a
// renewal (here or by another node of the fleet) shows without an event.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.renewals.Collect(ch)
	c.obtains.Collect(ch)
	for _, d := range c.m.cfg.Domains {
		var latest float64
		for _, cert := range c.m.cache.AllMatchingCertificates(d) {
			if cert.Leaf != nil {
				latest = max(latest, float64(cert.Leaf.NotAfter.Unix()))
			}
		}
		if latest > 0 {
			ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, latest, d)
		}
	}
}
