package relay_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
)

// relayStreams is how many streams the relay's sessions with the given
// peers hold state for (yamux connections only).
func relayStreams(r *relay.Relay, peers ...identity.PeerID) int {
	n := 0
	for _, p := range peers {
		for _, c := range r.Host().ConnsToPeer(p) {
			k, _ := c.NumStreams()
			n += k
		}
	}
	return n
}

// waitStreams waits until the relay holds no stream state with peers. The
// bound is far under yamux's 10 s StreamCloseTimeout, after which a FIN
// without an answer would have been cleaned up anyway.
func waitStreams(t *testing.T, r *relay.Relay, d time.Duration, peers ...identity.PeerID) {
	t.Helper()
	deadline := time.Now().Add(d)
	for relayStreams(r, peers...) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("relay still holds %d streams %v after the circuits ended", relayStreams(r, peers...), d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDataCapDeliversThenEnds: every byte the relay counts arrives, then
// EOF (a half-close, not a reset), and the sender's further writes fail.
func TestDataCapDeliversThenEnds(t *testing.T) {
	leakcheck.Check(t)
	const capBytes = 64 << 10
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{LimitData: capBytes}})
	writeErr := make(chan error, 1)
	a := stopTarget(t, r, addr, func(s *host.Stream) {
		var err error
		for err == nil {
			_, err = s.Write(make([]byte, 4096))
		}
		writeErr <- err
	})
	b := newClient(t, r, addr)
	st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, st)
	if n != capBytes || err != nil {
		t.Fatalf("received %d bytes, then %v; want %d, then EOF", n, err, capBytes)
	}
	// Our half-close ends the other direction; then the relay resets A's
	// stream, whose read side it abandoned at the cap.
	st.Close()
	var ne net.Error
	if err := <-writeErr; errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the sender's writes did not fail after the cap")
	}
	waitStreams(t, r, 2*time.Second, a.ID(), b.ID())
}

// TestDurationCapResets: at the duration cap both ends read a real reset
// (yamux RST, not FIN), and the relay frees the streams' state at once.
func TestDurationCapResets(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{LimitDuration: time.Second}})
	targetErr := make(chan error, 1)
	a := stopTarget(t, r, addr, func(s *host.Stream) {
		_, err := io.Copy(io.Discard, s)
		targetErr <- err
	})
	b := newClient(t, r, addr)
	st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, st)
	if !errors.Is(err, yamux.ErrConnectionReset) {
		t.Errorf("dialer's read at the duration cap: %v, want a stream reset", err)
	}
	if err := <-targetErr; !errors.Is(err, yamux.ErrConnectionReset) {
		t.Errorf("target's read at the duration cap: %v, want a stream reset", err)
	}
	waitStreams(t, r, time.Second, a.ID(), b.ID())
}

// TestResetFloodSparesOtherCircuits: while circuits are reset as soon as
// they open, from either end, other circuits through the same relay carry
// data intact; afterwards the relay holds no state for any of them.
func TestResetFloodSparesOtherCircuits(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{Limits: noRates(limiter.Config{Unlimited: true, MaxCircuitsPerPeer: 1000})})
	// A resets every circuit whose first byte is 'r', echoes the others.
	a := newClient(t, r, addr)
	a.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(30 * time.Second))
		first := make([]byte, 1)
		if _, err := io.ReadFull(s, first); err != nil {
			return
		}
		if first[0] == 'r' {
			s.Reset()
			return
		}
		s.Write(first)
		io.Copy(s, s)
	}))
	if _, err := circuit.Reserve(ctxT(t), a, r.ID()); err != nil {
		t.Fatal(err)
	}
	var clients []*host.Host
	for range 4 {
		clients = append(clients, newClient(t, r, addr))
	}
	var wg sync.WaitGroup
	for i, b := range clients {
		wg.Go(func() { floodResets(t, r, b, a.ID(), i%2 == 0) })
		wg.Go(func() {
			st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			st.SetDeadline(time.Now().Add(30 * time.Second))
			msg := make([]byte, 512<<10)
			rand.Read(msg)
			msg[0] = 'e'
			go st.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(st, got); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("a data circuit was harmed by the reset flood: %v", err)
			}
		})
	}
	wg.Wait()
	peers := []identity.PeerID{a.ID()}
	for _, c := range clients {
		peers = append(peers, c.ID())
	}
	waitStreams(t, r, 2*time.Second, peers...)
}

// floodResets opens circuits to target and has them reset at once, by the
// dialer (selfReset) or by the target.
func floodResets(t *testing.T, r *relay.Relay, b *host.Host, target identity.PeerID, selfReset bool) {
	for range 25 {
		st, _, err := circuit.Connect(ctxT(t), b, r.ID(), target)
		if err != nil {
			t.Error(err)
			return
		}
		if selfReset {
			st.Write([]byte("e1234"))
			st.Reset()
			continue
		}
		st.Write([]byte("r"))
		st.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, st); !errors.Is(err, yamux.ErrConnectionReset) {
			t.Errorf("circuit reset by the target: %v, want a stream reset", err)
		}
		st.Reset()
	}
}

// TestDurationCapAfterDataCap: one direction reached the data cap, the
// other still flows; at the duration cap the circuit is reset all the
// same.
func TestDurationCapAfterDataCap(t *testing.T) {
	leakcheck.Check(t)
	const capBytes = 16 << 10
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{LimitData: capBytes, LimitDuration: time.Second}})
	a := stopTarget(t, r, addr, func(s *host.Stream) {
		s.Write(make([]byte, 4*capBytes))
		io.Copy(io.Discard, s)
	})
	b := newClient(t, r, addr)
	st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(20 * time.Second))
	if n, err := io.Copy(io.Discard, st); n != capBytes || err != nil {
		t.Fatalf("received %d bytes, then %v; want %d, then EOF", n, err, capBytes)
	}
	var werr error
	for werr == nil {
		_, werr = st.Write([]byte("still here"))
		time.Sleep(20 * time.Millisecond)
	}
	if !errors.Is(werr, yamux.ErrConnectionReset) {
		t.Fatalf("write after the duration cap: %v, want a stream reset", werr)
	}
	waitStreams(t, r, time.Second, a.ID(), b.ID())
}
