package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// RegisterRuntime registers the process collector (process_*: CPU, memory,
// file descriptors), the Go runtime collector (go_*) and relayd_build_info
// on reg. Call it once per registry, from the program, not per relay node:
// these describe the process.
func RegisterRuntime(reg prometheus.Registerer, version, commit string) {
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "relayd_build_info",
		Help: "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{
			"version":    version,
			"commit":     commit,
			"go_version": runtime.Version(),
		},
	})
	info.Set(1)
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		info,
	)
}
