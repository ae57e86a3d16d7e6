package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminConfig configures NewAdminHandler.
type AdminConfig struct {
	// Gatherer is what /metrics serves. Required.
	Gatherer prometheus.Gatherer
	// Ready answers /readyz: true means the relay takes new connections.
	// Default: always ready.
	Ready func() bool
	// Status adds lines to /readyz's answer, ready or not (a fleet node's
	// Redis state). Default: none.
	Status func() string
	// Pending lists work still under way that does not stop the relay
	// from taking connections (an ACME certificate not yet obtained);
	// /readyz adds one "pending: …" line per item, and stays 200: a load
	// balancer that dropped the node would also cut the CA off from the
	// challenge the node must answer. Default: nothing pending.
	Pending func() []string
	// Pprof mounts /debug/pprof/. Default false: profiles reveal internals
	// and a CPU profile costs CPU, so an operator has to ask for them.
	Pprof bool
	// Logger receives errors from gathering metrics. Default: discard.
	Logger *slog.Logger
}

// NewAdminHandler serves /metrics, /healthz, /readyz and, with cfg.Pprof,
// /debug/pprof/. Other paths are 404.
func NewAdminHandler(cfg AdminConfig) http.Handler {
	if cfg.Ready == nil {
		cfg.Ready = func() bool { return true }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError),
		// A collector failing must not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapes are cheap but not free; a burst of them must not
		// compete with relaying.
		MaxRequestsInFlight: 4,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		status := ""
		if cfg.Status != nil {
			if status = cfg.Status(); status != "" {
				status += "\n"
			}
		}
		if !cfg.Ready() {
			http.Error(w, "not ready\n"+status, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n"+status)
		if cfg.Pending != nil {
			for _, p := range cfg.Pending() {
				io.WriteString(w, "pending: "+p+"\n")
			}
		}
	})
	if cfg.Pprof {
		mountPprof(mux)
	}
	return mux
}

// mountPprof registers net/http/pprof on mux explicitly: importing the
// package registers on http.DefaultServeMux, which we never serve.
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// NewAdminServer wraps h in an http.Server whose timeouts bound every
// client. Whoever can reach the admin address can open connections, and
// without timeouts a client that trickles its request (slowloris) or never
// reads the answer holds a goroutine and a socket for good.
func NewAdminServer(h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler: h,
		// Requests are tiny GETs: a header that takes longer is an
		// attack or a broken client.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// Above the 30 s default of /debug/pprof/profile (which refuses
		// a duration beyond WriteTimeout), and far above a scrape.
		WriteTimeout: time.Minute,
		// Prometheus keeps its connection between scrapes (15-60 s).
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
