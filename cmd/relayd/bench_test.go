package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
	"github.com/relayd/relayd/relay/relaytest"
)

// benchRelay is an in-process relay on 127.0.0.1 serving until the test
// ends, with a fresh identity; its address ends in /p2p/<id>.
func benchRelay(t *testing.T, cfg relay.Config) string {
	t.Helper()
	cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}
	return relaytest.Start(t, cfg).Addrs()[0].String()
}

// relaxed lets one machine hold many reservations and open circuits as
// fast as it likes, with no circuit caps: what a benchmark run needs.
func relaxed() relay.Config {
	return relay.Config{
		Limits: limiter.Config{
			MaxReservationsPerIP:     -1,
			MaxReservationsPerSubnet: -1,
			Unlimited:                true,
			ReserveRatePerIP:         limiter.NoRate,
			ReserveRatePerPeer:       limiter.NoRate,
			ConnectRatePerIP:         limiter.NoRate,
			ConnectRatePerPeer:       limiter.NoRate,
		},
		Conns: host.ConnLimits{MaxConns: -1, ConnRatePerIP: limiter.NoRate},
	}
}

func TestBenchAgainstRelay(t *testing.T) {
	leakcheck.Check(t)
	addr := benchRelay(t, relaxed())
	var out, errOut bytes.Buffer
	args := []string{"bench", "--reservations", "10", "--concurrency", "4", "--circuits", "5", "--bytes", "1MiB", "--timeout", "60s", "--json", addr}
	if code := run(context.Background(), args, &out, &errOut); code != exitOK {
		t.Fatalf("bench exit %d: %s%s", code, out.String(), errOut.String())
	}
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	if rep.Relay != addr || rep.Reservations.Count != 10 || rep.Reservations.Concurrency != 4 {
		t.Errorf("reservations = %+v, relay %q", rep.Reservations, rep.Relay)
	}
	if !(rep.Reservations.PerSecond > 0) {
		t.Errorf("reservations/s = %v, want > 0", rep.Reservations.PerSecond)
	}
	checkLatency(t, "reservations", rep.Reservations.Latency)
	if rep.Circuits == nil || rep.Circuits.Count != 5 {
		t.Fatalf("circuits = %+v, want 5", rep.Circuits)
	}
	checkLatency(t, "circuits", rep.Circuits.Latency)
	if tp := rep.Throughput; tp == nil || tp.Bytes != 1<<20 || !(tp.MiBPerSecond > 0) || !(tp.Seconds > 0) {
		t.Errorf("throughput = %+v, want 1 MiB at > 0 MiB/s", rep.Throughput)
	}
}

func checkLatency(t *testing.T, phase string, l latencyStats) {
	t.Helper()
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("%s latency %+v: want 0 < p50 <= p90 <= p99 <= max", phase, l)
	}
}

// TestBenchTable runs the default output, skipping the throughput phase.
func TestBenchTable(t *testing.T) {
	leakcheck.Check(t)
	addr := benchRelay(t, relaxed())
	var out, errOut bytes.Buffer
	args := []string{"bench", "--reservations", "3", "--circuits", "2", "--bytes", "0", "--hold", "10ms", "--timeout", "60s", addr}
	if code := run(context.Background(), args, &out, &errOut); code != exitOK {
		t.Fatalf("bench exit %d: %s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"phase", "reservations  3", "circuits      2", "p99", "/s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "throughput") {
		t.Errorf("--bytes 0 still ran the throughput phase:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "holding 3 reservations") {
		t.Errorf("stderr %q lacks the hold notice", errOut.String())
	}
}

// TestBenchDataCap: a relay with default limits cuts a circuit at 128 KiB,
// and bench says so instead of reporting a rate.
func TestBenchDataCap(t *testing.T) {
	leakcheck.Check(t)
	addr := benchRelay(t, relay.Config{})
	var out, errOut bytes.Buffer
	args := []string{"bench", "--reservations", "2", "--circuits", "0", "--bytes", "1MiB", "--timeout", "60s", addr}
	if code := run(context.Background(), args, &out, &errOut); code != exitFailure {
		t.Fatalf("bench exit %d, want %d: %s%s", code, exitFailure, out.String(), errOut.String())
	}
	want := "circuit cut after 131072 bytes: the relay's data cap; run it with --unlimited"
	if !strings.Contains(errOut.String(), want) || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("stderr %q, want one line containing %q", errOut.String(), want)
	}
}

func TestBenchUnreachableRelayFails(t *testing.T) {
	leakcheck.Check(t)
	key, _ := identity.GenerateKey()
	addr := "/ip4/127.0.0.1/tcp/1/p2p/" + identity.PeerIDOf(key).String()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"bench", "--reservations", "4", "--timeout", "5s", addr}, &out, &errOut); code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
	if !strings.Contains(errOut.String(), "bench: reservations: client") || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("stderr %q, want one line naming the failed client", errOut.String())
	}
}

func TestBenchUsageErrors(t *testing.T) {
	key, _ := identity.GenerateKey()
	addr := "/ip4/127.0.0.1/tcp/1/p2p/" + identity.PeerIDOf(key).String()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "want one RELAY_MULTIADDR"},
		{[]string{"bench", addr, addr}, "want one RELAY_MULTIADDR"},
		{[]string{"bench", "/ip4/127.0.0.1/tcp/1"}, "does not end in /p2p/"},
		{[]string{"bench", "not-an-addr"}, "invalid multiaddr"},
		{[]string{"bench", "--nope", addr}, "flag provided but not defined"},
		{[]string{"bench", "--reservations", "0", addr}, "--reservations: want at least 1"},
		{[]string{"bench", "--reservations", "1", addr}, "want at least 2 for --circuits or --bytes"},
		{[]string{"bench", "--concurrency", "0", addr}, "--concurrency: want at least 1"},
		{[]string{"bench", "--circuits", "-1", addr}, "--circuits: want 0 or more"},
		{[]string{"bench", "--bytes", "12XB", addr}, `invalid size "12XB"`},
		{[]string{"bench", "--bytes", "-1", addr}, `invalid size "-1"`},
		{[]string{"bench", "--hold", "-1s", addr}, "--hold: want 0 or more"},
		{[]string{"bench", "--timeout", "0s", addr}, "--timeout: want more than 0"},
		{[]string{"bench", "--hold", "1m", "--timeout", "30s", addr}, "want less than --timeout"},
		{[]string{"bench", "--timeout", "soon", addr}, "invalid value"},
		{[]string{"bench", "--metrics", "127.0.0.1:9494", addr}, "--metrics \"127.0.0.1:9494\": want the relay's admin URL"},
		{[]string{"bench", "--metrics", "ftp://x/metrics", addr}, "want the relay's admin URL"},
		{[]string{"bench", "--tls-ca", "/nonexistent/ca.pem", addr}, "--tls-ca: open /nonexistent/ca.pem"},
		{[]string{"bench", "--tls-ca", "bench_test.go", addr}, "--tls-ca bench_test.go: no PEM certificate in it"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tt.args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tt.args, code, exitUsage)
		}
		if !strings.Contains(errOut.String(), tt.want) || strings.Count(errOut.String(), "\n") != 1 {
			t.Errorf("%v: stderr %q, want one line containing %q", tt.args, errOut.String(), tt.want)
		}
	}
}

func TestBenchHelp(t *testing.T) {
	for _, args := range [][]string{{"help", "bench"}, {"bench", "--help"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != exitOK {
			t.Fatalf("%v: exit %d", args, code)
		}
		if !strings.HasPrefix(out.String(), "Usage: relayd bench") {
			t.Errorf("%v: output %q", args, out.String())
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one p50", ms(7), 50, 7 * time.Millisecond},
		{"one p99", ms(7), 99, 7 * time.Millisecond},
		{"two p50", ms(1, 2), 50, 1 * time.Millisecond},
		{"two p90", ms(1, 2), 90, 2 * time.Millisecond},
		{"ten p50", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5 * time.Millisecond},
		{"ten p90", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"ten p99", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"hundred p99", ms(hundred...), 99, 99 * time.Millisecond},
		{"hundred max", ms(hundred...), 100, 100 * time.Millisecond},
		{"tiny p", ms(1, 2, 3), 0.1, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(%v, %v) = %v, want %v", tt.name, tt.sorted, tt.p, got, tt.want)
		}
	}
}

func TestSummariseUnsorted(t *testing.T) {
	in := []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}
	got := summarise(in)
	want := latencyStats{P50: 2, P90: 3, P99: 3, Max: 3}
	if got != want {
		t.Errorf("summarise = %+v, want %+v", got, want)
	}
	if in[0] != 3*time.Millisecond {
		t.Error("summarise sorted its input in place")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"512KiB", 512 << 10, true},
		{"64MiB", 64 << 20, true},
		{"64 MiB", 64 << 20, true},
		{"2GiB", 2 << 30, true},
		{"100B", 100, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"1.5MiB", 0, false},
		{"-1", 0, false},
		{"64MB", 0, false},
		{"99999999999GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for _, n := range []int64{1, 1023, 1 << 10, 3 << 20, 64 << 20, 1 << 30} {
		if got, err := parseSize(formatSize(n)); err != nil || got != n {
			t.Errorf("parseSize(formatSize(%d) = %q) = %d, %v", n, formatSize(n), got, err)
		}
	}
}
