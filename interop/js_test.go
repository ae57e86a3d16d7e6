package interop

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
)

const (
	// jsPayload is what the go host sends through the echo stream; with
	// the js peer's dial-back (jsDialBackBytes, DIALBACK_BYTES in
	// js/src/peer.js) and identify, each direction stays well under the
	// default 128 KiB circuit cap.
	jsPayload       = 32 << 10
	jsDialBackBytes = 32 << 10

	// jsStartTimeout covers Node or Chromium start-up plus the reservation.
	jsStartTimeout = 60 * time.Second
)

// jsScenario is one js-libp2p runtime dialing the relay over one transport.
type jsScenario struct {
	name      string
	script    string // in js/
	transport string // relay address the js peer dials: "tcp", "ws" or "wss"
	listen    string // extra relay listen address; "" for the default TCP one
	parkIdle  string // relayd's --park-idle; the go host dials once the js peer's connection parked
}

// TestJSNode: a Node.js js-libp2p peer dials the relay over TCP, reserves,
// gets a /p2p-circuit address; a go-libp2p host dials it through that
// address and both open an echo stream over the limited circuit.
func TestJSNode(t *testing.T) {
	requireTools(t, "node", "npm")
	prepareJS(t)
	sc := jsScenario{name: "tcp", script: "src/node.js", transport: "tcp"}
	forEachKind(t, func(t *testing.T, kind string) { runJSScenario(t, kind, sc) })
}

// TestJSBrowser: the same with js-libp2p bundled for the browser in
// headless Chromium, dialing the relay over WebSockets, with TLS (the
// relay's certificate from a test CA the browser trusts) and without.
func TestJSBrowser(t *testing.T) {
	requireTools(t, "node", "npm", chromiumPath(), "certutil")
	prepareJS(t)
	scenarios := []jsScenario{
		{name: "wss", script: "src/chromium.js", transport: "wss", listen: "/ip4/127.0.0.1/tcp/0/wss"},
		{name: "ws", script: "src/chromium.js", transport: "ws", listen: "/ip4/127.0.0.1/tcp/0/ws"},
	}
	forEachKind(t, func(t *testing.T, kind string) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) { runJSScenario(t, kind, sc) })
		}
	})
}

// TestJSBrowserParked: relayd parks the browser's idle WebSocket
// connection (with TLS: a browser's usual way in) between two of its
// messages, and the browser stays reachable and can still dial out over
// the circuit.
func TestJSBrowserParked(t *testing.T) {
	requireTools(t, "node", "npm", chromiumPath(), "certutil")
	prepareJS(t)
	sc := jsScenario{name: "wss", script: "src/chromium.js", transport: "wss", listen: "/ip4/127.0.0.1/tcp/0/wss", parkIdle: "200ms"}
	runRelaydOnly(t, func(t *testing.T) { runJSScenario(t, kindRelayd, sc) })
}

// runJSScenario starts a relay with sc's extra listener, the js peer
// reserving over it, and a go host that dials the js peer at the circuit
// address the peer itself announced for that transport.
func runJSScenario(t *testing.T, kind string, sc jsScenario) {
	ca := newTestCA(t)
	var flags []string
	if sc.listen != "" {
		flags = append(flags, "--listen", sc.listen)
	}
	if sc.transport == "wss" {
		flags = append(flags, "--tls-cert", ca.CertFile, "--tls-key", ca.KeyFile)
	}
	if sc.parkIdle != "" {
		flags = append(flags, "--park-idle", sc.parkIdle)
	}
	r := startRelay(t, kind, flags...)
	relayAddr := relayAddrFor(t, r, sc.transport).Encapsulate(p2pComponent(r.Info.ID))
	p := startJSPeer(t, sc.script, relayAddr, "RELAYD_INTEROP_CA="+ca.CAFile)
	target, circuit := checkListening(t, p.await(t, "listening", jsStartTimeout), relayAddr)
	if sc.parkIdle != "" {
		waitParked(t, r, target, "js peer")
	}

	b := newHost(t, libp2p.Transport(websocket.New, websocket.WithTLSClientConfig(&tls.Config{RootCAs: ca.Pool})))
	b.SetStreamHandler(echoProto, handleEcho)
	ctx := limitedCtx(t, 2*streamTimeout)
	if err := b.Connect(ctx, peer.AddrInfo{ID: target, Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("go host cannot dial the js peer at its address %s: %v", circuit, err)
	}
	if conns := connsTo(b, target); len(conns) != 1 || !conns[0].Stat().Limited {
		t.Errorf("want 1 limited conn to the js peer (default limits), have %d", len(conns))
	}
	checkGoToJS(t, b, target, p)
	if ev := p.await(t, "dialback", streamTimeout); ev.Bytes != jsDialBackBytes {
		t.Errorf("js peer's own echo stream to the go host carried %d bytes, want %d", ev.Bytes, jsDialBackBytes)
	}
}

// checkGoToJS echoes jsPayload off the js peer and checks what the js
// side saw: the go host's peer ID on a limited relayed conn.
func checkGoToJS(t *testing.T, b host.Host, target peer.ID, p *jsPeer) {
	t.Helper()
	payload := randomBytes(t, jsPayload)
	res, err := echo(limitedCtx(t, streamTimeout), b, target, payload)
	if err != nil {
		t.Fatalf("go → js: %v", err)
	}
	if res.writeErr != nil || res.readErr != nil || res.echoed != len(payload) {
		t.Fatalf("go → js echo: wrote %d (%v), read back %d of %d (%v)", res.sent, res.writeErr, res.echoed, len(payload), res.readErr)
	}
	ev := p.await(t, "echoed", streamTimeout)
	if ev.Bytes != len(payload) || ev.RemotePeer != b.ID().String() {
		t.Errorf("js peer echoed %d bytes for %s, want %d for %s", ev.Bytes, ev.RemotePeer, len(payload), b.ID())
	}
	if !ev.Limited || !strings.Contains(ev.RemoteAddr, "/p2p-circuit") {
		t.Errorf("js peer saw the go host on %s (limited %v), want a limited /p2p-circuit conn", ev.RemoteAddr, ev.Limited)
	}
}

// checkListening checks the js peer's announced addresses: each is
// <relay addr>/p2p-circuit/p2p/<peer>, and one goes through relayAddr,
// the address it reserved over (a relay must list every transport in the
// reservation, or a browser's address is useless to other browsers).
func checkListening(t *testing.T, ev jsEvent, relayAddr ma.Multiaddr) (peer.ID, ma.Multiaddr) {
	t.Helper()
	id, err := peer.Decode(ev.Peer)
	if err != nil {
		t.Fatalf("js peer ID %q: %v", ev.Peer, err)
	}
	want := relayAddr.Encapsulate(ma.StringCast("/p2p-circuit")).Encapsulate(p2pComponent(id))
	var found ma.Multiaddr
	for _, s := range ev.Addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			t.Fatalf("js peer address %q: %v", s, err)
		}
		if strings.Count(s, "/p2p-circuit") != 1 || !strings.HasSuffix(s, "/p2p-circuit/p2p/"+id.String()) {
			t.Errorf("js peer address %s is not <relay>/p2p-circuit/p2p/<peer>", s)
		}
		if a.Equal(want) {
			found = a
		}
	}
	if found == nil {
		t.Fatalf("js peer has no address %s; it has %q (built from the relay's reservation addrs)", want, ev.Addrs)
	}
	return id, found
}
