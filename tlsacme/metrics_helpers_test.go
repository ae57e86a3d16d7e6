package tlsacme_test

import (
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func find(t *testing.T, reg *prometheus.Registry, name, label, value string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabel(m, label, value) {
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue(), true
				}
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// expiry is the expiry metric of domain; it fails t when absent.
func expiry(t *testing.T, reg *prometheus.Registry, domain string) float64 {
	t.Helper()
	v, ok := find(t, reg, "relayd_tls_certificate_expiry_timestamp_seconds", "domain", domain)
	if !ok {
		t.Fatalf("no expiry metric for %s", domain)
	}
	return v
}

func countOf(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	v, _ := find(t, reg, name, "result", result)
	return v
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
