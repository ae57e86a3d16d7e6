package relay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/proxyproto"
	"github.com/relayd/relayd/p2p/transport/tcp"
	"github.com/relayd/relayd/relay"
)

// loopbackLB trusts PROXY headers from 127.0.0.1, so tests stand in for
// clients at any address.
var loopbackLB = proxyproto.Config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// noRates lifts every request rate, so a test sees only what it sets.
func noRates(c limiter.Config) limiter.Config {
	c.ReserveRatePerIP, c.ReserveRatePerPeer = limiter.NoRate, limiter.NoRate
	c.ConnectRatePerIP, c.ConnectRatePerPeer = limiter.NoRate, limiter.NoRate
	return c
}

// clientFrom is a client host connected to the relay through a PROXY
// header naming src ("" for none).
func clientFrom(t testing.TB, r *relay.Relay, addr ma.Multiaddr, src string) *host.Host {
	t.Helper()
	var tr transport.Transport = tcp.New()
	if src != "" {
		tr = proxyproto.DialTransport{Transport: tr, Source: netip.MustParseAddrPort(src)}
	}
	h, err := host.New(host.Config{Key: newKey(t), Transports: []transport.Transport{tr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if _, err := h.Dial(ctxT(t), addr, r.ID()); err != nil {
		t.Fatal(err)
	}
	return h
}

// decisions reads relayd_limiter_decisions_total{request,class,result}.
func decisions(t *testing.T, reg prometheus.Gatherer, request, class, result string) float64 {
	t.Helper()
	return counter(t, reg, "relayd_limiter_decisions_total", map[string]string{"request": request, "class": class, "result": result})
}

func counter(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// TestReservationQuotasBehindProxy: per-IP and per-subnet quotas count
// the client addresses a trusted load balancer names.
func TestReservationQuotasBehindProxy(t *testing.T) {
	leakcheck.Check(t)
	tests := []struct {
		name   string
		ok     int
		src    func(i int) string
		reason string
	}{
		{"9th from one IP", 8, func(i int) string { return fmt.Sprintf("198.51.100.7:%d", 1000+i) }, "ip_quota"},
		{"33rd from one /24", 32, func(i int) string { return fmt.Sprintf("203.0.113.%d:1000", i/4+1) }, "subnet_quota"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			r, addr := newTestRelay(t, relay.Config{Limits: noRates(limiter.Config{}), ProxyProtocol: loopbackLB, Metrics: reg})
			for i := range tt.ok {
				if _, err := circuit.Reserve(ctxT(t), clientFrom(t, r, addr, tt.src(i)), r.ID()); err != nil {
					t.Fatalf("reservation %d: %v", i+1, err)
				}
			}
			_, err := circuit.Reserve(ctxT(t), clientFrom(t, r, addr, tt.src(tt.ok)), r.ID())
			wantStatus(t, err, wire.StatusReservationRefused)
			if got := decisions(t, reg, "reserve", "default", tt.reason); got != 1 {
				t.Fatalf("%s refusals = %v, want 1", tt.reason, got)
			}
			if n := r.Reservations(); n != tt.ok {
				t.Fatalf("Reservations = %d, want %d", n, tt.ok)
			}
		})
	}
}

// TestRequestRates: a burst of RESERVE from one IP, and of CONNECT from
// one peer, over the configured rate is refused with the spec's status.
func TestRequestRates(t *testing.T) {
	leakcheck.Check(t)
	reg := prometheus.NewRegistry()
	r, addr := newTestRelay(t, relay.Config{Metrics: reg, Limits: limiter.Config{
		ReserveRatePerIP:   limiter.Rate{PerSecond: 0.001, Burst: 3},
		ReserveRatePerPeer: limiter.NoRate,
		ConnectRatePerIP:   limiter.NoRate,
		ConnectRatePerPeer: limiter.Rate{PerSecond: 0.001, Burst: 2},
	}})
	a := echoTarget(t, r, addr)
	for range 2 { // a's RESERVE was the first of the IP's 3
		if _, err := circuit.Reserve(ctxT(t), newClient(t, r, addr), r.ID()); err != nil {
			t.Fatal(err)
		}
	}
	_, err := circuit.Reserve(ctxT(t), newClient(t, r, addr), r.ID())
	wantStatus(t, err, wire.StatusReservationRefused)

	b := newClient(t, r, addr)
	for range 2 {
		st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	_, _, err = circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	wantStatus(t, err, wire.StatusResourceLimitExceeded)
	if got := decisions(t, reg, "reserve", "default", "rate") + decisions(t, reg, "connect", "default", "rate"); got != 2 {
		t.Fatalf("rate refusals = %v, want 2", got)
	}
}

// TestDeniedPeer: a denied peer ID, and a client in a denied CIDR behind
// the balancer, get PERMISSION_DENIED for RESERVE and CONNECT.
func TestDeniedPeer(t *testing.T) {
	leakcheck.Check(t)
	denied := newKey(t)
	reg := prometheus.NewRegistry()
	r, addr := newTestRelay(t, relay.Config{Metrics: reg, ProxyProtocol: loopbackLB, Limits: limiter.Config{
		DenyPeers: []identity.PeerID{identity.PeerIDOf(denied)},
		DenyCIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}})
	a := echoTarget(t, r, addr)
	d, err := host.New(host.Config{Key: denied})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Dial(ctxT(t), addr, r.ID()); err != nil {
		t.Fatal(err)
	}
	fromDeniedNet := clientFrom(t, r, addr, "192.0.2.77:5000")
	for _, h := range []*host.Host{d, fromDeniedNet} {
		_, err := circuit.Reserve(ctxT(t), h, r.ID())
		wantStatus(t, err, wire.StatusPermissionDenied)
		_, _, err = circuit.Connect(ctxT(t), h, r.ID(), a.ID())
		wantStatus(t, err, wire.StatusPermissionDenied)
	}
	if got := decisions(t, reg, "reserve", "denied", "acl_denied"); got != 2 {
		t.Fatalf("denied RESERVE count %v, want 2", got)
	}
}

// TestAllowListedCircuitOutlivesDefaultCaps: with default caps of 1 s and
// 16 KiB, an allow-listed peer's circuit carries no Limit and keeps
// flowing past both, while another peer's CONNECT gets the caps.
func TestAllowListedCircuitOutlivesDefaultCaps(t *testing.T) {
	leakcheck.Check(t)
	trusted := newKey(t)
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{
		LimitDuration: time.Second,
		LimitData:     16 << 10,
		Classes: []limiter.Class{{
			Name: "trusted", Peers: []identity.PeerID{identity.PeerIDOf(trusted)}, Limits: limiter.Unrestricted(),
		}},
	}})
	a := echoTarget(t, r, addr)

	other := newClient(t, r, addr)
	st, lim, err := circuit.Connect(ctxT(t), other, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if lim == nil || lim.Duration != 1 || lim.Data != 16<<10 {
		t.Fatalf("default class limit %+v, want 1 s / 16 KiB", lim)
	}

	b, err := host.New(host.Config{Key: trusted})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.Dial(ctxT(t), addr, r.ID()); err != nil {
		t.Fatal(err)
	}
	st, lim, err = circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if lim != nil {
		t.Fatalf("allow-listed peer got Limit %+v, want none", lim)
	}
	opened := time.Now()
	st.SetDeadline(opened.Add(20 * time.Second))
	roundTrip(t, st, 64<<10) // four times the default data cap
	time.Sleep(time.Until(opened.Add(1500 * time.Millisecond)))
	roundTrip(t, st, 64<<10) // past the default duration cap
}

// TestCircuitPacedToBandwidthCap: with LimitRate set, a sender that writes
// as fast as it can is paced, not cut: the receiver's measured rate over
// 5 s (1 s with -short) is within 10% of the cap.
func TestCircuitPacedToBandwidthCap(t *testing.T) {
	leakcheck.Check(t)
	const rate = 256 << 10
	span := 5 * time.Second
	if testing.Short() {
		span = time.Second
	}
	total := int(rate * span.Seconds())
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{LimitRate: rate, LimitData: -1, LimitDuration: time.Minute}})
	a := newClient(t, r, addr)
	got := make(chan time.Time, 1)
	a.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.CopyN(io.Discard, s, int64(total)); err == nil {
			got <- time.Now()
		}
		io.Copy(io.Discard, s)
	}))
	if _, err := circuit.Reserve(ctxT(t), a, r.ID()); err != nil {
		t.Fatal(err)
	}
	b := newClient(t, r, addr)
	st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	st.SetDeadline(start.Add(30 * time.Second))
	go st.Write(make([]byte, total))
	select {
	case end := <-got:
		// Only the upper bound is checked: a loaded machine can only
		// make the transfer slower, never faster, so this fails only
		// when pacing is broken (circuit/pace_test.go checks the pacer's
		// arithmetic on an injected clock).
		measured := float64(total) / end.Sub(start).Seconds()
		if measured > 1.1*rate {
			t.Fatalf("measured %.0f B/s over %v, want at most %d +10%%", measured, end.Sub(start), rate)
		}
		t.Logf("measured %.0f B/s over %v (cap %d)", measured, end.Sub(start), rate)
	case <-time.After(30 * time.Second):
		t.Fatal("paced transfer did not finish")
	}
}

// TestReconnectStorm: one peer reconnects and re-reserves 100 times, its
// old connection closing before or after the new one opens; it still holds
// exactly one slot, the total is right, and circuits reach it.
func TestReconnectStorm(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{
		Limits: noRates(limiter.Config{}),
		Conns:  host.ConnLimits{ConnRatePerIP: limiter.NoRate},
	})
	echoTarget(t, r, addr) // one other reservation
	storm, err := host.New(host.Config{Key: newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storm.Close() })
	storm.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		io.Copy(s, s)
	}))
	var prev *host.Conn
	for i := range 100 {
		if i%2 == 1 && prev != nil {
			prev.Close() // disconnect first, then reconnect
		}
		c, err := storm.Dial(ctxT(t), addr, r.ID())
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 && prev != nil {
			prev.Close() // reconnect first, then drop the old connection
		}
		if _, err := circuit.Reserve(ctxT(t), storm, r.ID()); err != nil {
			t.Fatalf("reservation %d: %v", i+1, err)
		}
		prev = c
	}
	waitUntil(t, func() bool { return len(r.Host().ConnsToPeer(storm.ID())) == 1 })
	if n := r.Reservations(); n != 2 {
		t.Fatalf("Reservations = %d, want 2 (the storm peer and one other)", n)
	}
	st, _, err := circuit.Connect(ctxT(t), newClient(t, r, addr), r.ID(), storm.ID())
	if err != nil {
		t.Fatalf("circuit to the storm peer: %v", err)
	}
	st.SetDeadline(time.Now().Add(20 * time.Second))
	roundTrip(t, st, 1<<10)
	st.Close()
}

// TestConnectionFlood: 2,000 connection attempts in a few seconds, most
// never finishing a handshake (silent, or a truncated multistream line, or
// closed at once). The handshake and connection caps shed them; every
// reservation made before survives and still takes circuits; goroutines
// and heap stay bounded.
func TestConnectionFlood(t *testing.T) {
	leakcheck.Check(t)
	const (
		attempts      = 2000
		maxHandshakes = 64
		targets       = 5
	)
	reg := prometheus.NewRegistry()
	r, addr := newTestRelay(t, relay.Config{
		Metrics:          reg,
		HandshakeTimeout: 2 * time.Second,
		MaxHandshakes:    maxHandshakes,
		Conns:            host.ConnLimits{MaxConns: 256, ConnRatePerIP: limiter.NoRate},
		Limits:           noRates(limiter.Config{}),
	})
	var peers []*host.Host
	for range targets {
		peers = append(peers, echoTarget(t, r, addr))
	}
	src := newClient(t, r, addr)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	baseline := runtime.NumGoroutine()
	peak := sampleGoroutines(t)

	open := flood(t, "127.0.0.1:"+addr[1].Value(), attempts)
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 64<<20 {
		t.Errorf("heap grew %d MiB during the flood", grown>>20)
	}
	if p := peak(); p > baseline+maxHandshakes+200 {
		t.Errorf("goroutines peaked at %d (baseline %d)", p, baseline)
	}
	shed := counter(t, reg, "relayd_connections_refused_total", map[string]string{"reason": "handshake_limit"}) +
		counter(t, reg, "relayd_connections_refused_total", map[string]string{"reason": "conn_limit"})
	if shed == 0 {
		t.Error("the flood was not shed by the handshake or connection caps")
	}
	t.Logf("shed %v of %d attempts", shed, attempts)

	if n := r.Reservations(); n != targets {
		t.Fatalf("Reservations after the flood = %d, want %d", n, targets)
	}
	for _, p := range peers {
		st, _, err := circuit.Connect(ctxT(t), src, r.ID(), p.ID())
		if err != nil {
			t.Fatalf("circuit after the flood: %v", err)
		}
		st.SetDeadline(time.Now().Add(20 * time.Second))
		roundTrip(t, st, 4<<10)
		st.Close()
	}
}

// flood dials addr attempts times from 32 workers and returns the
// connections it left open (silent or stuck mid-line).
func flood(t *testing.T, addr string, attempts int) []net.Conn {
	var (
		mu   sync.Mutex
		open []net.Conn
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(attempts); i = next.Add(1) {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					continue
				}
				switch i % 4 {
				case 0:
					c.Close()
					continue
				case 1:
					c.Write([]byte("\x13/multistream/1.0")) // never finished
				}
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return open
}

// sampleGoroutines records the goroutine count every 5 ms until the test
// ends; the returned func reads the peak so far.
func sampleGoroutines(t *testing.T) func() int {
	var peak atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if n := int64(runtime.NumGoroutine()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() int { return int(peak.Load()) }
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
