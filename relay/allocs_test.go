package relay_test

import (
	"io"
	"testing"
	"time"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
)

// Allocation upper bounds, so a regression on the hot paths fails CI
// without timing anything. testing.AllocsPerRun counts every allocation in
// the process: the relay's and both in-process clients' (their yamux
// sessions allocate per frame, as the relay's do). The bounds are about
// 1.5× what was measured (go1.26.8, hashicorp/yamux v0.1.2) and move
// only when a path starts allocating per frame or per buffer.
const (
	// maxAllocsPerReserve: one RESERVE round trip on an open connection,
	// stream negotiation included (measured: about 185).
	maxAllocsPerReserve = 280
	// maxAllocsPerRelayedMiB: one MiB through one circuit, client to
	// target, in 64 KiB writes (measured: about 110, nearly all in
	// hashicorp/yamux's per-frame send and receive paths; 180 when the
	// relay sent 16 KiB frames).
	maxAllocsPerRelayedMiB = 170
)

func skipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	if testing.Short() {
		t.Skip("-short")
	}
}

// TestReserveAllocs bounds the allocations of a reservation refresh.
func TestReserveAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{Limits: noRates(limiter.Config{})})
	c := newClient(t, r, addr)
	reserve := func() {
		if _, err := circuit.Reserve(ctxT(t), c, r.ID()); err != nil {
			t.Fatal(err)
		}
	}
	reserve()
	n := testing.AllocsPerRun(50, reserve)
	t.Logf("%v allocations per RESERVE", n)
	if n > maxAllocsPerReserve {
		t.Errorf("%v allocations per RESERVE, want at most %d", n, maxAllocsPerReserve)
	}
}

// TestSpliceAllocsPerMiB bounds the allocations per MiB relayed through
// one unlimited circuit.
func TestSpliceAllocsPerMiB(t *testing.T) {
	skipAllocsUnderRace(t)
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{Unlimited: true}})
	const mib = 1 << 20
	gotMiB := make(chan struct{}, 1)
	a := newClient(t, r, addr)
	a.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		buf := make([]byte, 64<<10)
		for got := 0; ; {
			n, err := s.Read(buf)
			if got += n; got >= mib {
				got -= mib
				gotMiB <- struct{}{}
			}
			if err != nil {
				return
			}
		}
	}))
	if _, err := circuit.Reserve(ctxT(t), a, r.ID()); err != nil {
		t.Fatal(err)
	}
	b := newClient(t, r, addr)
	st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close(); io.Copy(io.Discard, st) }()
	buf := make([]byte, 64<<10)
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	sendMiB := func() {
		for range mib / len(buf) {
			if _, err := st.Write(buf); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-gotMiB:
		case <-timeout.C:
			t.Fatal("target did not receive the MiB")
		}
	}
	sendMiB()
	n := testing.AllocsPerRun(8, sendMiB)
	t.Logf("%v allocations per relayed MiB", n)
	if n > maxAllocsPerRelayedMiB {
		t.Errorf("%v allocations per relayed MiB, want at most %d", n, maxAllocsPerRelayedMiB)
	}
}
