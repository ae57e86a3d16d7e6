package relay_test

import (
	"io"
	"testing"
	"time"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/pbio"
	"github.com/relayd/relayd/relay"
)

// TestPipelinedBytesSurvive sends application bytes in the same write as
// the hop CONNECT (from B) and as the stop STATUS (from A): the relay must
// forward both, since it must never read past a message.
func TestPipelinedBytesSurvive(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{})
	const fromA, fromB = "early bytes from A", "early bytes from B"

	a := newClient(t, r, addr)
	gotAtA := make(chan string, 1)
	a.Handle(wire.ProtoStop, func(s *host.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := pbio.ReadDelimited(s, wire.MaxMessageSize); err != nil {
			t.Error(err)
			return
		}
		ok := (&wire.StopMessage{Type: wire.StopStatus, Status: wire.StatusOK}).Append(nil)
		s.Write(append(pbio.AppendDelimited(nil, ok), fromA...))
		buf := make([]byte, len(fromB))
		io.ReadFull(s, buf)
		gotAtA <- string(buf)
	})
	if _, err := circuit.Reserve(ctxT(t), a, r.ID()); err != nil {
		t.Fatal(err)
	}

	b := newClient(t, r, addr)
	st, err := b.NewStream(ctxT(t), r.ID(), wire.ProtoHop)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	req := (&wire.HopMessage{Type: wire.HopConnect, Peer: &wire.Peer{ID: a.ID().Bytes()}}).Append(nil)
	if _, err := st.Write(append(pbio.AppendDelimited(nil, req), fromB...)); err != nil {
		t.Fatal(err)
	}
	resp, err := pbio.ReadDelimited(st, wire.MaxMessageSize)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := wire.ParseHop(resp); m.Status != wire.StatusOK {
		t.Fatalf("status %v", m.Status)
	}
	buf := make([]byte, len(fromA))
	if _, err := io.ReadFull(st, buf); err != nil || string(buf) != fromA {
		t.Fatalf("B got %q, %v; want %q", buf, err, fromA)
	}
	select {
	case got := <-gotAtA:
		if got != fromB {
			t.Fatalf("A got %q, want %q", got, fromB)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("A got nothing")
	}
}
