package relay_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/relay"
)

// TestDrainLetsCircuitsFinish: a circuit carrying data when the drain
// starts keeps carrying it; meanwhile /readyz is 503, new connections are
// refused, and so are new RESERVE and CONNECT requests on connections that
// exist; the drain completes once the circuit ends by itself.
func TestDrainLetsCircuitsFinish(t *testing.T) {
	leakcheck.Check(t)
	reg := prometheus.NewRegistry()
	r, addr := newTestRelay(t, relay.Config{Metrics: reg, Limits: limiter.Config{Unlimited: true}})
	admin := newAdmin(t, reg, r)
	a := echoTarget(t, r, addr)
	b := newClient(t, r, addr)
	st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(20 * time.Second))
	roundTrip(t, st, 8<<10)
	wantHTTP(t, admin, "/readyz", http.StatusOK)

	errc := make(chan error, 1)
	go func() { errc <- r.Drain(ctxT(t)) }()
	waitHTTP(t, admin, "/readyz", http.StatusServiceUnavailable)

	if _, err := newHost(t).Dial(ctxT(t), addr, r.ID()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("new connection while draining: %v, want connection refused", err)
	}
	_, err = circuit.Reserve(ctxT(t), b, r.ID())
	wantStatus(t, err, wire.StatusReservationRefused)
	_, _, err = circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	wantStatus(t, err, wire.StatusResourceLimitExceeded)

	roundTrip(t, st, 64<<10) // the established circuit still flows
	select {
	case err := <-errc:
		t.Fatalf("Drain returned (%v) while a circuit was open", err)
	default:
	}
	st.Close() // the circuit ends by itself
	io.Copy(io.Discard, st)
	if err := <-errc; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	wantHTTP(t, admin, "/healthz", http.StatusOK)
	checkSeries(t, scrape(t, admin), []series{
		{"relayd_reservations_requests_total", []string{"result", "draining"}, 1},
		{"relayd_circuits_requests_total", []string{"result", "draining"}, 1},
		{"relayd_circuits_closed_total", []string{"reason", "src_closed"}, 1},
		{"relayd_circuits_active", nil, 0},
	})
}

// TestDrainTimeout: a circuit that does not end keeps Drain waiting until
// its context ends; Close then cuts it as a shutdown.
func TestDrainTimeout(t *testing.T) {
	leakcheck.Check(t)
	reg := prometheus.NewRegistry()
	r, addr := newTestRelay(t, relay.Config{Metrics: reg, Limits: limiter.Config{Unlimited: true}})
	a := echoTarget(t, r, addr)
	b := newClient(t, r, addr)
	st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain = %v, want context.DeadlineExceeded", err)
	}
	if r.Ready() {
		t.Error("ready after a drain")
	}
	r.Close()
	readToEnd(t, st, "circuit survived Close")
	admin := newAdmin(t, reg, r)
	checkSeries(t, scrape(t, admin), []series{
		{"relayd_circuits_closed_total", []string{"reason", "shutdown"}, 1},
		{"relayd_circuits_active", nil, 0},
	})
}

// TestReadyFollowsServe: not ready before Serve or after it returns.
func TestReadyFollowsServe(t *testing.T) {
	leakcheck.Check(t)
	r, err := relay.New(relay.Config{Key: newKey(t), Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Ready() {
		t.Error("ready before Serve")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Serve(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !r.Ready() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !r.Ready() {
		t.Error("not ready while serving")
	}
	cancel()
	<-done
	if r.Ready() {
		t.Error("ready after Serve returned")
	}
}

func newHost(t *testing.T) *host.Host {
	t.Helper()
	h, err := host.New(host.Config{Key: newKey(t), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func getStatus(t *testing.T, srv *httptest.Server, path string) int {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func wantHTTP(t *testing.T, srv *httptest.Server, path string, want int) {
	t.Helper()
	if got := getStatus(t, srv, path); got != want {
		t.Errorf("GET %s: %d, want %d", path, got, want)
	}
}

// waitHTTP polls path until it answers want, for at most 10 s.
func waitHTTP(t *testing.T, srv *httptest.Server, path string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for getStatus(t, srv, path) != want {
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never answered %d", path, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
