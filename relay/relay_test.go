package relay_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
	"github.com/relayd/relayd/relay/relaytest"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelDebug
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelWarn // logging would dominate what is measured
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// newTestRelay runs a relay on 127.0.0.1:0 until the test ends and
// returns its first listen address. It listens on TCP unless cfg.Listen
// says otherwise; /wss listeners serve the test certificate.
func newTestRelay(t testing.TB, cfg relay.Config) (*relay.Relay, ma.Multiaddr) {
	t.Helper()
	if cfg.Key == nil {
		cfg.Key = newKey(t)
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = testCert(t).ServerConfig()
	}
	cfg.Logger = testLogger(t)
	r := relaytest.Start(t, cfg)
	return r, r.Host().ListenAddrs()[0]
}

// newClient is a client host connected to the relay at addr.
func newClient(t testing.TB, r *relay.Relay, addr ma.Multiaddr) *host.Host {
	t.Helper()
	key := newKey(t)
	h, err := host.New(host.Config{Key: key, Logger: testLogger(t), Transports: clientTransports(t, key)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.Dial(ctx, addr, r.ID()); err != nil {
		t.Fatal(err)
	}
	return h
}

// echoTarget reserves on the relay and echoes whatever arrives over circuits.
func echoTarget(t testing.TB, r *relay.Relay, addr ma.Multiaddr) *host.Host {
	t.Helper()
	h := newClient(t, r, addr)
	h.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		io.Copy(s, s)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := circuit.Reserve(ctx, h, r.ID()); err != nil {
		t.Fatal(err)
	}
	return h
}

// sinkTarget reserves on the relay and discards what arrives over circuits.
func sinkTarget(t testing.TB, r *relay.Relay, addr ma.Multiaddr) *host.Host {
	t.Helper()
	h := newClient(t, r, addr)
	h.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		io.Copy(io.Discard, s)
	}))
	if _, err := circuit.Reserve(ctxT(t), h, r.ID()); err != nil {
		t.Fatal(err)
	}
	return h
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// handleStop serves h's incoming circuits with serve, each bounded by a 20 s
// deadline and closed after.
func handleStop(h *host.Host, serve func(s *host.Stream)) {
	h.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(20 * time.Second))
		serve(s)
	}))
}

// stopTarget is a client that reserves on r and serves its circuits with
// serve, as handleStop does.
func stopTarget(t *testing.T, r *relay.Relay, addr ma.Multiaddr, serve func(s *host.Stream)) *host.Host {
	t.Helper()
	h := newClient(t, r, addr)
	handleStop(h, serve)
	if _, err := circuit.Reserve(ctxT(t), h, r.ID()); err != nil {
		t.Fatal(err)
	}
	return h
}

// readToEnd reads st until the circuit ends and fails the test with failure
// if it has not ended within 20 s: a read that returns at all (EOF or an
// error) before that deadline proves the relay cut the circuit.
func readToEnd(t *testing.T, st *host.Stream, failure string) (int64, error) {
	t.Helper()
	st.SetDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, st)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal(failure)
	}
	return n, err
}

func TestReserveAndEcho(t *testing.T) {
	leakcheck.Check(t)
	tests := []struct {
		name      string
		limits    limiter.Config
		payload   int
		wantLimit *wire.Limit
	}{
		{"unlimited 1MiB", limiter.Config{Unlimited: true}, 1 << 20, nil},
		{"default limits 64KiB", limiter.Config{}, 64 << 10, &wire.Limit{Duration: 120, Data: 131072}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, addr := newTestRelay(t, relay.Config{Limits: tt.limits, ReservationTTL: 10 * time.Minute})
			a := newClient(t, r, addr)
			a.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
				defer s.Close()
				io.Copy(s, s)
			}))
			info, err := circuit.Reserve(ctxT(t), a, r.ID())
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Until(info.Expire); d < 9*time.Minute || d > 11*time.Minute {
				t.Errorf("expire in %v, want about 10m", d)
			}
			if (info.Limit == nil) != (tt.wantLimit == nil) || info.Limit != nil && *info.Limit != *tt.wantLimit {
				t.Errorf("reservation limit %+v, want %+v", info.Limit, tt.wantLimit)
			}
			b := newClient(t, r, addr)
			st, lim, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
			if err != nil {
				t.Fatal(err)
			}
			if (lim == nil) != (tt.wantLimit == nil) {
				t.Errorf("connect limit %+v, want %+v", lim, tt.wantLimit)
			}
			echo(t, st, tt.payload)
		})
	}
}

// echo writes n random bytes and checks they come back.
func echo(t *testing.T, st *host.Stream, n int) {
	t.Helper()
	defer st.Close()
	st.SetDeadline(time.Now().Add(20 * time.Second))
	roundTrip(t, st, n)
}

// roundTrip sends n random bytes through an echoing circuit and checks
// they come back, leaving the stream open.
func roundTrip(t *testing.T, st *host.Stream, n int) {
	t.Helper()
	msg := make([]byte, n)
	rand.Read(msg)
	errc := make(chan error, 1)
	go func() {
		_, err := st.Write(msg)
		errc <- err
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(st, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
}

func TestConnectRefusals(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{MaxCircuitsPerPeer: 1}})
	a := echoTarget(t, r, addr)
	b := newClient(t, r, addr)

	_, _, err := circuit.Connect(ctxT(t), b, r.ID(), b.ID())
	wantStatus(t, err, wire.StatusNoReservation)

	st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, _, err = circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	wantStatus(t, err, wire.StatusResourceLimitExceeded)
}

func wantStatus(t *testing.T, err error, want wire.Status) {
	t.Helper()
	var se *circuit.StatusError
	if !errors.As(err, &se) || se.Status != want {
		t.Fatalf("err = %v, want status %v", err, want)
	}
}

func TestReservationQuotaAndDisconnect(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{MaxReservations: 1}})
	a := newClient(t, r, addr)
	for range 3 { // refreshes keep the one slot
		if _, err := circuit.Reserve(ctxT(t), a, r.ID()); err != nil {
			t.Fatal(err)
		}
	}
	b := newClient(t, r, addr)
	_, err := circuit.Reserve(ctxT(t), b, r.ID())
	wantStatus(t, err, wire.StatusReservationRefused)

	a.Close() // a's last connection closes: its slot is freed
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = circuit.Reserve(ctxT(t), b, r.ID())
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("slot not freed after disconnect: %v", err)
	}
}

func TestDataCap(t *testing.T) {
	leakcheck.Check(t)
	const capBytes = 64 << 10
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{LimitData: capBytes}})
	// The target sends four times the cap: only the cap may arrive, then
	// the relay cuts the circuit.
	a := stopTarget(t, r, addr, func(s *host.Stream) {
		s.Write(make([]byte, 4*capBytes))
	})
	b := newClient(t, r, addr)
	st, lim, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if lim == nil || lim.Data != capBytes {
		t.Fatalf("limit %+v", lim)
	}
	defer st.Close()
	n, err := readToEnd(t, st, "circuit was not cut at the data cap")
	if n != capBytes {
		t.Fatalf("received %d bytes through a %d-byte cap (err %v)", n, capBytes, err)
	}
}

func TestDurationCap(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{LimitDuration: time.Second}})
	a := echoTarget(t, r, addr)
	b := newClient(t, r, addr)
	st, lim, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if lim == nil || lim.Duration != 1 {
		t.Fatalf("limit %+v", lim)
	}
	defer st.Close()
	readToEnd(t, st, "circuit outlived its duration cap")
}

// TestUnlimitedCircuitOutlivesRequestDeadline: the deadline that bounds
// reading the hop request must not stay on a circuit that has no duration
// cap (unlimited relays, allow-listed classes).
func TestUnlimitedCircuitOutlivesRequestDeadline(t *testing.T) {
	leakcheck.Check(t)
	const reqTimeout = 300 * time.Millisecond
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{Unlimited: true}, StreamTimeout: reqTimeout})
	a := echoTarget(t, r, addr)
	b := newClient(t, r, addr)
	st, lim, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if lim != nil {
		t.Fatalf("limit %+v on an unlimited relay", lim)
	}
	time.Sleep(3 * reqTimeout) // idle past the request deadline
	echo(t, st, 1024)
}
