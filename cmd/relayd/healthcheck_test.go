package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/metrics"
)

func TestHealthcheckURL(t *testing.T) {
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			if k == "RELAYD_ADMIN_LISTEN" && v != "" {
				return v, true
			}
			return "", false
		}
	}
	tests := []struct {
		name, addr, path, env, want string
	}{
		{"default", "", "/healthz", "", "http://" + defaultConfig().AdminListen + "/healthz"},
		{"env", "", "/healthz", "10.0.0.5:9000", "http://10.0.0.5:9000/healthz"},
		{"flag beats env", "127.0.0.2:1", "/readyz", "10.0.0.5:9000", "http://127.0.0.2:1/readyz"},
		{"wildcard v4", "0.0.0.0:9494", "/healthz", "", "http://127.0.0.1:9494/healthz"},
		{"wildcard v6", "[::]:9494", "/healthz", "", "http://[::1]:9494/healthz"},
		{"empty host", ":9494", "/healthz", "", "http://127.0.0.1:9494/healthz"},
		{"localhost", "localhost:9494", "/healthz", "", "http://localhost:9494/healthz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := healthcheckURL(tt.addr, tt.path, env(tt.env))
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for _, bad := range []struct{ addr, path string }{{"nohost", "/healthz"}, {"relay.example:9494", "/healthz"}, {"127.0.0.1:9494", "healthz"}} {
		if got, err := healthcheckURL(bad.addr, bad.path, env("")); err == nil {
			t.Errorf("healthcheckURL(%q, %q) = %q, want an error", bad.addr, bad.path, got)
		}
	}
}

// TestHealthcheckCommand runs the subcommand against relayd's real admin
// handler, ready and not ready.
func TestHealthcheckCommand(t *testing.T) {
	leakcheck.Check(t)
	ready := true
	srv := httptest.NewServer(metrics.NewAdminHandler(metrics.AdminConfig{Ready: func() bool { return ready }}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	tests := []struct {
		name   string
		ready  bool
		args   []string
		code   int
		stderr string // prefix; "" means empty
	}{
		{"healthz", false, []string{"--admin-listen", addr}, 0, ""},
		{"readyz ready", true, []string{"--admin-listen", addr, "--path", "/readyz"}, 0, ""},
		{"readyz draining", false, []string{"--admin-listen", addr, "--path", "/readyz"}, 1, "relayd: healthcheck: GET http://" + addr + "/readyz: 503"},
		{"unknown path", true, []string{"--admin-listen", addr, "--path", "/nope"}, 1, "relayd: healthcheck: GET"},
		{"bad flag", true, []string{"--bogus"}, 2, "relayd: healthcheck: flag provided but not defined"},
		{"argument", true, []string{"extra"}, 2, "relayd: healthcheck: unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready = tt.ready
			r := runRelayd(t, append([]string{"healthcheck"}, tt.args...)...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			if tt.stderr == "" && r.stderr != "" || !strings.HasPrefix(r.stderr, tt.stderr) {
				t.Errorf("stderr %q, want prefix %q", r.stderr, tt.stderr)
			}
		})
	}
}

func TestHealthcheckNothingListening(t *testing.T) {
	leakcheck.Check(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // the port is now closed: connection refused
	if r := runRelayd(t, "healthcheck", "--admin-listen", addr); r.code != 1 || !strings.HasPrefix(r.stderr, "relayd: healthcheck: ") {
		t.Errorf("exit %d stderr %q, want 1 and a healthcheck error", r.code, r.stderr)
	}
}

func TestHealthcheckHelp(t *testing.T) {
	for _, args := range [][]string{{"help", "healthcheck"}, {"healthcheck", "-h"}} {
		if r := runRelayd(t, args...); r.code != 0 || !strings.Contains(r.stdout, "Usage: relayd healthcheck") {
			t.Errorf("%v: exit %d stdout %q", args, r.code, r.stdout)
		}
	}
}
