package mesh_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/mesh"
	"github.com/relayd/relayd/mesh/meshtest"
	"github.com/relayd/relayd/p2p/identity"
)

// forwarded is what the test handler hands out: the holding node's end of
// a forwarded circuit.
type forwarded struct {
	st  circuit.Stream
	req circuit.ForwardRequest
}

// testNode is a mesh node whose handler answers status and hands the
// stream to the test; the handler returns when the test calls done or the
// stream is no longer needed.
type testNode struct {
	*mesh.Node
	reg  *prometheus.Registry
	in   chan forwarded
	done chan struct{}
}

var secret = bytes.Repeat([]byte("s"), mesh.MinSecretSize)

func newNode(t *testing.T, id string, sec []byte, d mesh.Directory, status wire.Status) *testNode {
	t.Helper()
	n := &testNode{reg: prometheus.NewRegistry(), in: make(chan forwarded, 4), done: make(chan struct{})}
	node, err := mesh.New(mesh.Config{
		NodeID: id, Listen: "127.0.0.1:0", Secret: sec, Directory: d,
		RedialMin: 10 * time.Millisecond, RedialMax: 50 * time.Millisecond,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: mesh.NewMetrics(n.reg),
		Handler: mesh.HandlerFunc(func(st circuit.Stream, req circuit.ForwardRequest, answer func(wire.Status) error) (circuit.End, error) {
			if err := answer(status); err != nil || status != wire.StatusOK {
				return circuit.EndError, circuit.ErrForwardRefused
			}
			n.in <- forwarded{st, req}
			<-n.done
			return circuit.EndSrcClosed, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.Node = node
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); node.Serve(ctx) }()
	t.Cleanup(func() { close(n.done); cancel(); <-served; node.Close() })
	return n
}

func peerID(t *testing.T) identity.PeerID {
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return identity.PeerIDOf(k)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pair forwards one circuit from an entry node to a holding node and
// returns both ends.
func pair(t *testing.T) (entry, holder *testNode, out circuit.Stream, in forwarded) {
	t.Helper()
	d := meshtest.NewDir()
	holder = newNode(t, "holder", secret, d, wire.StatusOK)
	entry = newNode(t, "entry", secret, d, wire.StatusOK)
	d.Set("holder", holder.Addr().String())
	d.Set("entry", entry.Addr().String())
	src, dst := peerID(t), peerID(t)
	lim := &wire.Limit{Duration: 120, Data: 1 << 17}
	out, err := entry.Forward(ctxT(t), "holder", src, dst, lim)
	if err != nil {
		t.Fatal(err)
	}
	in = <-holder.in
	if in.req.Src != src || in.req.Dst != dst || in.req.Node != "entry" || *in.req.Limit != *lim {
		t.Fatalf("holder got %+v", in.req)
	}
	return entry, holder, out, in
}

func TestForwardBothWaysAndHalfClose(t *testing.T) {
	leakcheck.Check(t)
	entry, holder, out, in := pair(t)
	msg := make([]byte, 200<<10) // several records
	rand.Read(msg)
	go func() { out.Write(msg); out.Close() }()
	got, err := io.ReadAll(in.st)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("holder read %d bytes, err %v", len(got), err)
	}
	// The other direction still runs after the half-close.
	if _, err := in.st.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	in.st.Close()
	got, err = io.ReadAll(out)
	if err != nil || string(got) != "reply" {
		t.Fatalf("entry read %q, err %v", got, err)
	}
	checkCounter(t, entry.reg, "relayd_mesh_forwarded_circuits_total", 1, "out", "ok")
	checkCounter(t, holder.reg, "relayd_mesh_forwarded_bytes_total", float64(len(msg)), "received")
	checkCounter(t, entry.reg, "relayd_mesh_forwarded_bytes_total", float64(len(msg)), "sent")
	waitGauge(t, entry.reg, "relayd_mesh_forwarded_circuits_active", 0, "out")
	checkGauge(t, entry.reg, "relayd_mesh_links_up", 1)
	checkGauge(t, holder.reg, "relayd_mesh_links_up", 1)
}

// value sums the samples of name whose label values include want.
func value(t *testing.T, reg prometheus.Gatherer, name string, want ...string) float64 {
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
			if hasValues(m, want) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func hasValues(m *dto.Metric, want []string) bool {
	for _, w := range want {
		found := false
		for _, l := range m.GetLabel() {
			found = found || l.GetValue() == w
		}
		if !found {
			return false
		}
	}
	return true
}

func checkCounter(t *testing.T, reg prometheus.Gatherer, name string, want float64, labels ...string) {
	t.Helper()
	if got := value(t, reg, name, labels...); got != want {
		t.Errorf("%s%q = %v, want %v", name, labels, got, want)
	}
}

func checkGauge(t *testing.T, reg prometheus.Gatherer, name string, want float64, labels ...string) {
	t.Helper()
	checkCounter(t, reg, name, want, labels...)
}

// waitGauge waits for a gauge that follows an asynchronous event.
func waitGauge(t *testing.T, reg prometheus.Gatherer, name string, want float64, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for value(t, reg, name, labels...) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s%q = %v, want %v", name, labels, value(t, reg, name, labels...), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readErr reads until an error and returns it.
func readErr(st circuit.Stream) error {
	buf := make([]byte, 1024)
	for {
		if _, err := st.Read(buf); err != nil {
			return err
		}
	}
}

// writeErr writes until an error and returns it.
func writeErr(st circuit.Stream) error {
	buf := make([]byte, 1024)
	for {
		if _, err := st.Write(buf); err != nil {
			return err
		}
	}
}

func TestResetPropagates(t *testing.T) {
	leakcheck.Check(t)
	t.Run("entry resets", func(t *testing.T) {
		_, _, out, in := pair(t)
		out.Write([]byte("some bytes first"))
		out.Reset()
		if err := readErr(in.st); !errors.Is(err, mesh.ErrReset) {
			t.Fatalf("holder read %v, want ErrReset", err)
		}
		in.st.Reset()
	})
	t.Run("holder resets", func(t *testing.T) {
		_, _, out, in := pair(t)
		in.st.Reset()
		if err := readErr(out); !errors.Is(err, mesh.ErrReset) {
			t.Fatalf("entry read %v, want ErrReset", err)
		}
		out.Reset()
	})
	t.Run("reset after half-close", func(t *testing.T) {
		_, _, out, in := pair(t)
		out.Close()
		if err := readErr(in.st); err != io.EOF {
			t.Fatalf("holder read %v, want EOF", err)
		}
		out.Reset()
		// The holder's direction is still open: its writes must fail.
		if err := writeErr(in.st); !errors.Is(err, mesh.ErrReset) {
			t.Fatalf("holder write %v, want ErrReset", err)
		}
		in.st.Reset()
	})
	t.Run("stop", func(t *testing.T) {
		_, _, out, in := pair(t)
		// Control records reach the side that reads, as the splice always
		// does while its direction runs.
		read := make(chan error, 1)
		go func() { read <- readErr(out) }()
		in.st.CloseRead()
		if err := writeErr(out); !errors.Is(err, mesh.ErrStopped) {
			t.Fatalf("entry write %v, want ErrStopped", err)
		}
		in.st.Close()
		if err := <-read; err != io.EOF {
			t.Fatalf("entry read %v, want EOF", err)
		}
		out.Reset()
	})
}

func TestRefused(t *testing.T) {
	leakcheck.Check(t)
	d := meshtest.NewDir()
	holder := newNode(t, "holder", secret, d, wire.StatusNoReservation)
	entry := newNode(t, "entry", secret, d, wire.StatusOK)
	d.Set("holder", holder.Addr().String())
	_, err := entry.Forward(ctxT(t), "holder", peerID(t), peerID(t), nil)
	var se *circuit.StatusError
	if !errors.As(err, &se) || se.Status != wire.StatusNoReservation {
		t.Fatalf("err %v, want NO_RESERVATION", err)
	}
	checkCounter(t, entry.reg, "relayd_mesh_forwarded_circuits_total", 1, "out", "refused")
	waitGauge(t, holder.reg, "relayd_mesh_forwarded_circuits_total", 1, "in", "refused")
	if _, err := entry.Forward(ctxT(t), "nobody", peerID(t), peerID(t), nil); !errors.Is(err, mesh.ErrUnknownNode) {
		t.Fatalf("forward to an unknown node: %v", err)
	}
	d.Set("meshless", "")
	if _, err := entry.Forward(ctxT(t), "meshless", peerID(t), peerID(t), nil); err == nil {
		t.Fatal("forwarded to a node without a mesh address")
	}
}

// TestWrongSecret: a node with another secret cannot link; the holder
// counts the failure and never answers a byte.
func TestWrongSecret(t *testing.T) {
	leakcheck.Check(t)
	d := meshtest.NewDir()
	holder := newNode(t, "holder", secret, d, wire.StatusOK)
	entry := newNode(t, "entry", bytes.Repeat([]byte("x"), mesh.MinSecretSize), d, wire.StatusOK)
	d.Set("holder", holder.Addr().String())
	if _, err := entry.Forward(ctxT(t), "holder", peerID(t), peerID(t), nil); err == nil {
		t.Fatal("forwarded with the wrong secret")
	}
	waitGauge(t, holder.reg, "relayd_mesh_handshake_failures_total", 1, "auth")
	checkGauge(t, holder.reg, "relayd_mesh_links_up", 0)
	checkCounter(t, entry.reg, "relayd_mesh_forwarded_circuits_total", 1, "out", "failed")

	// A client that is not a node at all gets no byte back.
	c, err := net.Dial("tcp", holder.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0, 48})
	c.Write(make([]byte, 48))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("a client without the secret read %d bytes, err %v", n, err)
	}
	waitGauge(t, holder.reg, "relayd_mesh_handshake_failures_total", 2, "auth")
}

func TestNoSecretNoMesh(t *testing.T) {
	for _, sec := range [][]byte{nil, []byte("short")} {
		_, err := mesh.New(mesh.Config{NodeID: "n", Listen: "127.0.0.1:0", Secret: sec,
			Handler: mesh.HandlerFunc(func(circuit.Stream, circuit.ForwardRequest, func(wire.Status) error) (circuit.End, error) {
				return "", nil
			})})
		if err == nil {
			t.Fatalf("mesh.New with a %d-byte secret succeeded", len(sec))
		}
	}
}

// TestSimultaneousDial: two nodes that forward to each other at once end
// with one link between them, and circuits both ways work.
func TestSimultaneousDial(t *testing.T) {
	leakcheck.Check(t)
	d := meshtest.NewDir()
	a := newNode(t, "a", secret, d, wire.StatusOK)
	b := newNode(t, "b", secret, d, wire.StatusOK)
	d.Set("a", a.Addr().String())
	d.Set("b", b.Addr().String())
	var wg sync.WaitGroup
	for _, from := range []*testNode{a, b} {
		to, in := "b", b.in
		if from == b {
			to, in = "a", a.in
		}
		wg.Go(func() {
			out, err := from.Forward(ctxT(t), to, peerID(t), peerID(t), nil)
			if err != nil {
				t.Errorf("forward to %s: %v", to, err)
				return
			}
			f := <-in
			out.Write([]byte("hi"))
			out.Close()
			if got, err := io.ReadAll(f.st); err != nil || string(got) != "hi" {
				t.Errorf("to %s: read %q, %v", to, got, err)
			}
			f.st.Close()
			io.ReadAll(out)
		})
	}
	wg.Wait()
	waitGauge(t, a.reg, "relayd_mesh_links_up", 1)
	waitGauge(t, b.reg, "relayd_mesh_links_up", 1)
}
