package mesh_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/mesh"
)

// Proxy is a loopback TCP proxy whose connections the test can cut: a
// mesh link through it fails the way a network failure does.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func NewProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() { ln.Close(); p.Cut(); p.wg.Wait() })
	return p
}

func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(u, c); u.Close() })
		p.wg.Go(func() { io.Copy(c, u); c.Close() })
	}
}

// Cut closes every proxied connection.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestLinkCut: cutting the link fails its streams on both nodes with
// ErrLinkDown, counts the drop, and the next forward redials.
func TestLinkCut(t *testing.T) {
	leakcheck.Check(t)
	d := newDir()
	holder := newNode(t, "holder", secret, d, wire.StatusOK)
	entry := newNode(t, "entry", secret, d, wire.StatusOK)
	proxy := NewProxy(t, holder.Addr().String())
	d.set("holder", proxy.Addr())
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
	waitGauge(t, holder.reg, "relayd_mesh_links_up", 0)

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
