package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
)

// TestSIGHUPReload runs the binary with a config file, rewrites the file
// and sends SIGHUP: a valid file applies to new requests at once (a peer
// newly denied gets PERMISSION_DENIED, others keep reserving) and a change
// that needs a restart is named in a warning; an invalid file is rejected
// with a logged error and the running config stays.
func TestSIGHUPReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relayd binary")
	}
	leakcheck.Check(t)
	bin := buildRelayd(t)
	file := filepath.Join(t.TempDir(), "relayd.yaml")
	rewrite(t, file, "max_reservations: 10\n")
	d := startDaemon(t, bin, "--config", file)

	a, b := newClientHost(t), newClientHost(t)
	for _, h := range []*host.Host{a, b} {
		if _, err := h.Dial(ctxT(t), d.addr, d.id); err != nil {
			t.Fatal(err)
		}
		if _, err := circuit.Reserve(ctxT(t), h, d.id); err != nil {
			t.Fatal(err)
		}
	}

	rewrite(t, file, "max_reservations: 10\nhandshake_timeout: 5s\ndeny_peers: ["+b.ID().String()+"]\n")
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, "SIGHUP: config reloaded", 1)
	if !strings.Contains(d.logs(), `"keys":["handshake_timeout"]`) {
		t.Errorf("no restart warning for handshake_timeout:\n%s", d.logs())
	}
	_, err := circuit.Reserve(ctxT(t), b, d.id)
	wantStatus(t, err, wire.StatusPermissionDenied)
	if _, err := circuit.Reserve(ctxT(t), a, d.id); err != nil {
		t.Fatalf("a's refresh after the reload: %v", err)
	}

	rewrite(t, file, "max_reservations: -1\n")
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, "SIGHUP: config rejected, the running config stays", 1)
	_, err = circuit.Reserve(ctxT(t), b, d.id)
	wantStatus(t, err, wire.StatusPermissionDenied) // still denied
	if _, err := circuit.Reserve(ctxT(t), a, d.id); err != nil {
		t.Fatalf("a's refresh after the rejected reload: %v", err)
	}

	rewrite(t, file, "max_reservations: [\n")
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, "SIGHUP: config rejected, the running config stays", 2)
	d.signal(t, syscall.SIGTERM)
	d.wantExit(t, exitOK, `"msg":"stopped"`)
}

func rewrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits (at most 20 s) until msg has been logged n times.
func (d *daemon) waitLog(t *testing.T, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(d.logs(), `"msg":"`+msg+`"`) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q not logged %d times:\n%s", msg, n, d.logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantStatus(t *testing.T, err error, want wire.Status) {
	t.Helper()
	var se *circuit.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want status %v", err, want)
	}
	if se.Status != want {
		t.Fatalf("status %v, want %v", se.Status, want)
	}
}

func TestRateSyntax(t *testing.T) {
	tests := []struct {
		in   string
		want limiter.Rate
		out  string // "" = in
	}{
		{"1/s:8", limiter.Rate{PerSecond: 1, Burst: 8}, ""},
		{"6/m:4", limiter.Rate{PerSecond: 0.1, Burst: 4}, ""},
		{"90/h:2", limiter.Rate{PerSecond: 0.025, Burst: 2}, ""},
		{"2.5/s:3", limiter.Rate{PerSecond: 2.5, Burst: 3}, "150/m:3"},
		{"10/s", limiter.Rate{PerSecond: 10, Burst: 10}, "10/s:10"},
		{"1/m", limiter.Rate{PerSecond: 1.0 / 60, Burst: 1}, "1/m:1"},
		{"0", limiter.NoRate, ""},
		{"off", limiter.NoRate, "0"},
	}
	for _, tt := range tests {
		var r limiter.Rate
		if err := (rateValue{&r}).Set(tt.in); err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if r != tt.want {
			t.Errorf("%q = %+v, want %+v", tt.in, r, tt.want)
		}
		want := tt.out
		if want == "" {
			want = tt.in
		}
		if got := (rateValue{&r}).String(); got != want {
			t.Errorf("%q prints as %q, want %q", tt.in, got, want)
		}
	}
	for _, bad := range []string{"", "1", "1/d", "-1/s", "0/s", "1/s:0", "1/s:x", "NaN/s", "Inf/s", "1/s:8:9"} {
		var r limiter.Rate
		if err := (rateValue{&r}).Set(bad); err == nil {
			t.Errorf("%q accepted as %+v", bad, r)
		}
	}
}
