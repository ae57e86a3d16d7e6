package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/probe"
	"github.com/relayd/relayd/relay"
	"github.com/relayd/relayd/relay/relaytest"
)

// TestProbeAgainstRelay runs `relayd probe` against an in-process relay:
// relayd's own client code doing the reserve / connect / echo round trip.
func TestProbeAgainstRelay(t *testing.T) {
	leakcheck.Check(t)
	key, _ := identity.GenerateKey()
	r, err := relay.New(relay.Config{Key: key, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Serve(ctx) }()
	defer func() { cancel(); <-done; r.Close() }()

	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"probe", "--timeout", "20s", "--bytes", "65536", r.Addrs()[0].String()}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("probe exit %d: %s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"reserve", "connect", "echo 65536 bytes", "120s / 131072 bytes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// startProbeRelay is an in-process relay on loopback TCP and QUIC.
func startProbeRelay(t *testing.T) *relay.Relay {
	t.Helper()
	return relaytest.Start(t, relay.Config{})
}

var loopbackListen = []string{"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1"}

// TestProbeHolePunchJSON runs `relayd probe --holepunch --json` against a
// local relay, where the direct path is trivially reachable: every probe
// must end on a direct connection at the first attempt, and the JSON
// carries the relay's limits.
func TestProbeHolePunchJSON(t *testing.T) {
	leakcheck.Check(t)
	r := startProbeRelay(t)
	args := append([]string{"probe", "--holepunch", "--json", "--count", "2", "--interval", "1ms"}, loopbackListen...)
	for _, a := range r.Addrs() {
		args = append(args, a.String())
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), args, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
	}
	dec := json.NewDecoder(&out)
	for i := range 2 {
		var rep probe.Report
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
		hp := rep.HolePunch
		if !rep.OK || hp == nil || !hp.Direct || hp.Attempts != 1 || hp.Transport == "" || !hp.DirectEcho || hp.TimeToDirect == nil {
			t.Errorf("report %d: %+v, hole punch %+v", i, rep, hp)
		}
		if rep.Limit == nil || rep.Limit.DurationSeconds != 120 || rep.Limit.DataBytes != 131072 {
			t.Errorf("report %d: limit %+v", i, rep.Limit)
		}
	}
}

// TestProbeSplitRoles runs the listener and the dialer as two probe
// commands, as they would run behind two NATs (the listener also serves
// its metrics endpoint).
func TestProbeSplitRoles(t *testing.T) {
	leakcheck.Check(t)
	r := startProbeRelay(t)
	relayArgs := []string{r.Addrs()[0].String(), r.Addrs()[1].String()}
	ready := &lineWriter{ready: make(chan string, 1)}
	var lOut bytes.Buffer
	ready.out = &lOut
	lArgs := append(append([]string{"probe", "--holepunch", "--role", "listener", "--timeout", "30s", "--metrics-listen", "127.0.0.1:0"}, loopbackListen...), relayArgs...)
	lCode := make(chan int, 1)
	go func() {
		var errOut bytes.Buffer
		lCode <- run(context.Background(), lArgs, ready, &errOut)
	}()
	id := <-ready.ready
	var dOut, dErr bytes.Buffer
	dArgs := append(append([]string{"probe", "--holepunch", "--json", "--role", "dialer", "--target", id}, loopbackListen...), relayArgs...)
	if code := run(context.Background(), dArgs, &dOut, &dErr); code != exitOK {
		t.Fatalf("dialer exit %d: %s%s", code, dOut.String(), dErr.String())
	}
	var rep probe.Report
	if err := json.Unmarshal(dOut.Bytes(), &rep); err != nil || !rep.HolePunch.Direct || rep.Role != "dialer" {
		t.Errorf("dialer report %s (%v)", dOut.String(), err)
	}
	if code := <-lCode; code != exitOK {
		t.Fatalf("listener exit %d: %s", code, ready.String())
	}
	for _, want := range []string{"listener ready: ", "direct connection", "yes", "ok"} {
		if !strings.Contains(ready.String(), want) {
			t.Errorf("listener output lacks %q:\n%s", want, ready.String())
		}
	}
}

// lineWriter passes output on and reports the listener's peer ID from its
// "listener ready: ID" line.
type lineWriter struct {
	mu    sync.Mutex
	out   *bytes.Buffer
	ready chan string
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if id, ok := strings.CutPrefix(string(b), "listener ready: "); ok {
		w.ready <- strings.TrimSpace(id)
	}
	return w.out.Write(b)
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

func TestProbeUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "want one or more RELAY_MULTIADDR"},
		{[]string{"probe", "--role", "dialer", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWK2gdc7xS7ND6Kn6MyKnVGTf7auHbVZxN2dAxzGrJvyTb"}, "needs --target"},
		{[]string{"probe", "--role", "nope", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWK2gdc7xS7ND6Kn6MyKnVGTf7auHbVZxN2dAxzGrJvyTb"}, "want both, listener or dialer"},
		{[]string{"probe", "--listen", "bad", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWK2gdc7xS7ND6Kn6MyKnVGTf7auHbVZxN2dAxzGrJvyTb"}, "--listen"},
		{[]string{"probe", "/ip4/127.0.0.1/tcp/1"}, "does not end in /p2p/"},
		{[]string{"probe", "not-an-addr"}, "invalid multiaddr"},
		{[]string{"probe", "--nope", "x"}, "flag provided but not defined"},
		{[]string{"probe", "--tls-ca", "/nonexistent/ca.pem", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWK2gdc7xS7ND6Kn6MyKnVGTf7auHbVZxN2dAxzGrJvyTb"}, "--tls-ca: open /nonexistent/ca.pem"},
		{[]string{"probe", "--tls-ca", "probe_test.go", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWK2gdc7xS7ND6Kn6MyKnVGTf7auHbVZxN2dAxzGrJvyTb"}, "--tls-ca probe_test.go: no PEM certificate in it"},
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

func TestProbeUnreachableRelayFails(t *testing.T) {
	key, _ := identity.GenerateKey()
	addr := "/ip4/127.0.0.1/tcp/1/p2p/" + identity.PeerIDOf(key).String()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"probe", "--timeout", "5s", addr}, &out, &errOut); code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
}
