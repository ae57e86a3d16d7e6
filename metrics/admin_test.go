package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/metrics"
)

func TestAdminHandler(t *testing.T) {
	leakcheck.Check(t)
	_, reg := newRelay(t)
	var ready atomic.Bool
	plain := httptest.NewServer(metrics.NewAdminHandler(metrics.AdminConfig{Gatherer: reg, Ready: ready.Load}))
	defer plain.Close()
	withPprof := httptest.NewServer(metrics.NewAdminHandler(metrics.AdminConfig{Gatherer: reg, Pprof: true}))
	defer withPprof.Close()
	withStatus := httptest.NewServer(metrics.NewAdminHandler(metrics.AdminConfig{Gatherer: reg, Ready: ready.Load,
		Status: func() string { return "redis: ok" }}))
	defer withStatus.Close()
	pending := httptest.NewServer(metrics.NewAdminHandler(metrics.AdminConfig{Gatherer: reg, Ready: ready.Load,
		Pending: func() []string { return []string{"acme certificate for relay.example.com: pending"} }}))
	defer pending.Close()

	tests := []struct {
		name   string
		srv    *httptest.Server
		ready  bool
		method string
		path   string
		code   int
		body   string // substring
	}{
		{"metrics", plain, true, "GET", "/metrics", 200, "relayd_circuits_closed_total{reason=\"limit_data\"} 0"},
		{"healthz while not ready", plain, false, "GET", "/healthz", 200, "ok"},
		{"readyz ready", plain, true, "GET", "/readyz", 200, "ready"},
		{"readyz not ready", plain, false, "GET", "/readyz", 503, "not ready"},
		{"readyz defaults to ready", withPprof, false, "GET", "/readyz", 200, "ready"},
		{"readyz reports status", withStatus, true, "GET", "/readyz", 200, "ready\nredis: ok\n"},
		{"readyz reports status when not ready", withStatus, false, "GET", "/readyz", 503, "not ready\nredis: ok"},
		{"readyz names what is pending and stays ready", pending, true, "GET", "/readyz", 200, "ready\npending: acme certificate for relay.example.com: pending\n"},
		{"no pprof unless asked", plain, true, "GET", "/debug/pprof/", 404, ""},
		{"pprof index", withPprof, true, "GET", "/debug/pprof/", 200, "goroutine"},
		{"pprof goroutine", withPprof, true, "GET", "/debug/pprof/goroutine?debug=1", 200, "goroutine profile"},
		{"unknown path", plain, true, "GET", "/", 404, ""},
		{"no POST", plain, true, "POST", "/metrics", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready.Store(tt.ready)
			req, err := http.NewRequest(tt.method, tt.srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tt.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.code)
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("%s %s: body lacks %q:\n%.400s", tt.method, tt.path, tt.body, body)
			}
		})
	}
}

func TestAdminServerHasTimeouts(t *testing.T) {
	srv := metrics.NewAdminServer(http.NotFoundHandler(), nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("timeouts header %v read %v write %v idle %v: all must be set",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	if srv.WriteTimeout <= 30e9 {
		t.Errorf("WriteTimeout %v cuts off the default 30 s CPU profile", srv.WriteTimeout)
	}
}
