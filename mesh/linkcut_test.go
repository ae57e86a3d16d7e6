package mesh_test

import (
	"errors"
	"io"
	"testing"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/cutproxy"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/mesh"
	"github.com/relayd/relayd/mesh/meshtest"
)

// TestLinkCut: cutting the link fails its streams on both nodes with
// ErrLinkDown, counts the drop, and the next forward redials.
func TestLinkCut(t *testing.T) {
	leakcheck.Check(t)
	d := meshtest.NewDir()
	holder := newNode(t, "holder", secret, d, wire.StatusOK)
	entry := newNode(t, "entry", secret, d, wire.StatusOK)
	proxy := cutproxy.New(t, holder.Addr().String())
	d.Set("holder", proxy.Addr())
	out, err := entry.Forward(ctxT(t), "holder", peerID(t), peerID(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	in := <-holder.in
	proxy.Cut()
	for name, st := range map[string]circuit.Stream{"entry": out, "holder": in.st} {
		if err := readErr(st); !errors.Is(err, mesh.ErrLinkDown) {
			t.Errorf("%s read %v, want ErrLinkDown", name, err)
		}
	}
	out.Reset()
	in.st.Reset()
	waitGauge(t, entry.reg, "relayd_mesh_link_drops_total", 1)
	waitGauge(t, holder.reg, "relayd_mesh_link_drops_total", 1)

	// The entry redials (through the proxy, which still listens).
	waitGauge(t, entry.reg, "relayd_mesh_links_up", 1)
	out, err = entry.Forward(ctxT(t), "holder", peerID(t), peerID(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	in = <-holder.in
	out.Write([]byte("x"))
	out.Close()
	if b, err := io.ReadAll(in.st); err != nil || string(b) != "x" {
		t.Fatalf("after redial: read %q, %v", b, err)
	}
	in.st.Close()
	io.ReadAll(out)
}
