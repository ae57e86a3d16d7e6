package interop

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
)

// TestFleetJSBrowser: js-libp2p in headless Chromium reserves on node 1 of
// a 3-node fleet over /ws; a go-libp2p host reaches it through node 2 over
// /ws and through node 3 over TCP (both forwarded over the mesh), and the
// echo of TestJSBrowser (go → js, then js's own stream back) runs on the
// first route.
func TestFleetJSBrowser(t *testing.T) {
	t.Parallel()
	requireTools(t, "node", "npm", chromiumPath())
	f := startFleet(t, startRedis(t), 3, []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"})
	prepareJS(t)
	n1, n2, n3 := f.Nodes[0], f.Nodes[1], f.Nodes[2]
	relayAddr := relayAddrFor(t, n1.relayProc, "ws").Encapsulate(p2pComponent(n1.Info.ID))
	p := startJSPeer(t, "src/chromium.js", relayAddr)
	target, _ := checkListening(t, p.await(t, "listening", jsStartTimeout), relayAddr)

	for i, route := range []struct {
		via *fleetNode
		tr  string
	}{{n2, "ws"}, {n3, "tcp"}} {
		addr := circuitOver(t, route.via.relayProc, route.tr, target)
		b := newHost(t, libp2p.Transport(websocket.New))
		b.SetStreamHandler(echoProto, handleEcho)
		if err := b.Connect(limitedCtx(t, 2*streamTimeout), peer.AddrInfo{ID: target, Addrs: []ma.Multiaddr{addr}}); err != nil {
			t.Fatalf("go host cannot dial the js peer through %s at %s: %v", route.via.ID, addr, err)
		}
		if conns := connsTo(b, target); len(conns) != 1 || !conns[0].Stat().Limited {
			t.Errorf("via %s: want 1 limited conn to the js peer, have %d", route.via.ID, len(conns))
		}
		if i == 0 {
			checkGoToJS(t, b, target, p)
			if ev := p.await(t, "dialback", streamTimeout); ev.Bytes != jsDialBackBytes {
				t.Errorf("js peer's own echo stream through the mesh carried %d bytes, want %d", ev.Bytes, jsDialBackBytes)
			}
		} else {
			checkEcho(t, b, target, 4<<10)
		}
		b.Close()
	}
	// The holding node counts a forwarded circuit when it ends.
	n1.awaitMetric(t, 10*time.Second, "relayd_mesh_forwarded_circuits_total", map[string]string{"direction": "in", "result": "ok"}, func(v float64) bool { return v == 2 })
	for _, nd := range []*fleetNode{n2, n3} {
		if v := nd.metric(t, "relayd_mesh_forwarded_circuits_total", map[string]string{"direction": "out", "result": "ok"}); v != 1 {
			t.Errorf("%s forwarded out %v circuits, want 1", nd.ID, v)
		}
	}
}
