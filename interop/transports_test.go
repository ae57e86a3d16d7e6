package interop

import (
	"context"
	"crypto/tls"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
)

// The transport tests run against relayd only (they use relayd-only
// flags; TestCircuitEndings runs the reference on all four transports).
// Every relay listens on all four transports at once, so each test also
// judges that one relay serves them side by side.

// relayTransports are the transports under test, in listen order.
func relayTransports() []string { return []string{"tcp", "quic", "ws", "wss"} }

// transportListen is the relay's listen address for each transport.
func transportListen() []string {
	return []string{
		"/ip4/127.0.0.1/tcp/0",
		"/ip4/127.0.0.1/udp/0/quic-v1",
		"/ip4/127.0.0.1/tcp/0/ws",
		"/ip4/127.0.0.1/tcp/0/wss",
	}
}

// relaxedQuotas lifts relayd's per-IP and per-peer rates and quotas: every
// client here shares 127.0.0.1 and the tests open many conns quickly.
func relaxedQuotas() []string {
	return []string{
		"--conn-rate-per-ip", "0",
		"--reserve-rate-per-ip", "0",
		"--reserve-rate-per-peer", "0",
		"--connect-rate-per-ip", "0",
		"--connect-rate-per-peer", "0",
		"--max-reservations-per-ip", "0",
		"--max-reservations-per-subnet", "0",
	}
}

// runRelaydOnly runs fn as subtest "relayd" (named like forEachKind's), or
// skips when RELAYD_INTEROP_KINDS leaves relayd out.
func runRelaydOnly(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	if !slices.Contains(kinds(), kindRelayd) {
		t.Skip("relayd is not among RELAYD_INTEROP_KINDS")
	}
	t.Run(kindRelayd, fn)
}

// startAllTransports starts relayd on TCP, QUIC, WS and WSS (certificate
// from ca) with relaxed quotas and flags.
func startAllTransports(t *testing.T, ca *testCA, flags ...string) *relayProc {
	t.Helper()
	all := append(relaxedQuotas(), "--tls-cert", ca.CertFile, "--tls-key", ca.KeyFile)
	r := startRelayOn(t, kindRelayd, transportListen(), append(all, flags...)...)
	for _, tr := range relayTransports() {
		relayAddrFor(t, r, tr) // fails unless every listener was announced
	}
	return r
}

// newAllTransportsHost is a private host that dials TCP, QUIC, WS and WSS
// (trusting ca); Noise and yamux serve TCP and WS, QUIC brings its TLS.
func newAllTransportsHost(t *testing.T, ca *testCA, opts ...libp2p.Option) host.Host {
	t.Helper()
	all := []libp2p.Option{
		libp2p.Transport(quic.NewTransport),
		libp2p.Transport(websocket.New, websocket.WithTLSClientConfig(&tls.Config{RootCAs: ca.Pool})),
	}
	return newHost(t, append(all, opts...)...)
}

// transportName names a relay or connection address's transport: tcp,
// quic, ws or wss (also written /tls/ws or /tls/sni/<host>/ws).
func transportName(a ma.Multiaddr) string {
	name := ""
	for _, c := range a {
		switch c.Code() {
		case ma.P_TCP:
			name = "tcp"
		case ma.P_QUIC_V1:
			return "quic"
		case ma.P_TLS:
			name = "tls"
		case ma.P_WSS:
			return "wss"
		case ma.P_WS:
			if name == "tls" {
				return "wss"
			}
			return "ws"
		}
	}
	return name
}

// relayAddrFor is r's announced address for transport tr, without /p2p.
func relayAddrFor(t testing.TB, r *relayProc, tr string) ma.Multiaddr {
	t.Helper()
	for _, a := range r.Info.Addrs {
		if transportName(a) == tr {
			return a
		}
	}
	t.Fatalf("%s announced no %s address: %v", r.Kind, tr, r.Info.Addrs)
	return nil
}

// circuitOver is the address of target through r, reaching r over tr.
func circuitOver(t testing.TB, r *relayProc, tr string, target peer.ID) ma.Multiaddr {
	t.Helper()
	return relayAddrFor(t, r, tr).Encapsulate(p2pComponent(r.Info.ID)).
		Encapsulate(ma.StringCast("/p2p-circuit")).Encapsulate(p2pComponent(target))
}

// reserveOver makes h reserve on r through r's tr address only, and
// returns the reservation and identify's report about that conn.
func reserveOver(t *testing.T, h host.Host, r *relayProc, tr string) (*client.Reservation, event.EvtPeerIdentificationCompleted) {
	t.Helper()
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	rsvp, err := client.Reserve(ctx, h, peer.AddrInfo{ID: r.Info.ID, Addrs: []ma.Multiaddr{relayAddrFor(t, r, tr)}})
	if err != nil {
		t.Fatalf("Reserve over %s: %v", tr, err)
	}
	evt := awaitIdentify(ctx, t, sub, r.Info.ID)
	checkConnTransport(t, h, r.Info.ID, tr)
	return rsvp, evt
}

// checkConnTransport: h's only conn to the relay runs over tr.
func checkConnTransport(t *testing.T, h host.Host, relay peer.ID, tr string) {
	t.Helper()
	conns := connsTo(h, relay)
	if len(conns) != 1 {
		t.Fatalf("want 1 conn to the relay, have %d", len(conns))
	}
	if got := transportName(conns[0].RemoteMultiaddr()); got != tr {
		t.Fatalf("conn to the relay runs over %s (%s), want %s", got, conns[0].RemoteMultiaddr(), tr)
	}
}

// checkReservationListsAll: the reservation lists every address the relay
// listens on (each as <addr>/p2p/<relay>), so a peer reserved over one
// transport is reachable over all of them.
func checkReservationListsAll(t *testing.T, rsvp *client.Reservation, r *relayProc) {
	t.Helper()
	checkReservationAddrs(t, rsvp.Addrs, r.Info.ID)
	for _, a := range r.Info.Addrs {
		want := a.Encapsulate(p2pComponent(r.Info.ID))
		if !slices.ContainsFunc(rsvp.Addrs, want.Equal) {
			t.Errorf("reservation addrs %v lack the %s listen address %s", rsvp.Addrs, transportName(a), want)
		}
	}
}

// observedForms are the spellings of our side of a conn over each
// transport after the IP and port; go-libp2p's observed-address manager
// wants /ip4|ip6/<ip>/tcp|udp/<port> first and the same tcp/udp as the
// local address (thinWaistForm, hasConsistentTransport).
func observedForms(tr string) []string {
	switch tr {
	case "quic":
		return []string{"/quic-v1"}
	case "ws":
		return []string{"/ws"}
	case "wss":
		return []string{"/wss", "/tls/ws"}
	}
	return []string{""}
}

// checkObserved: identify's observedAddr is the client's side of the conn:
// 127.0.0.1 (go-libp2p's QUIC dials from an unbound socket, so its local
// address says 0.0.0.0), the conn's local tcp or udp port, and the
// transport suffix of tr.
func checkObserved(t *testing.T, tr string, evt event.EvtPeerIdentificationCompleted) {
	t.Helper()
	obs, local := evt.ObservedAddr, evt.Conn.LocalMultiaddr()
	t.Logf("over %s: observed %v, local %v", tr, obs, local)
	if len(obs) < 2 || len(local) < 2 {
		t.Fatalf("observed addr %v (local %v): want /ip4/127.0.0.1/<tcp|udp>/<port>...", obs, local)
	}
	if !obs[:1].Equal(ma.StringCast("/ip4/127.0.0.1")) || !obs[1:2].Equal(local[1:2]) {
		t.Errorf("observed addr %v: want /ip4/127.0.0.1 and our side's %v (local %v)", obs, local[1], local)
	}
	rest := ""
	if len(obs) > 2 {
		rest = obs[2:].String()
	}
	if !slices.Contains(observedForms(tr), rest) {
		t.Errorf("observed addr %v over %s: after the port %q, want one of %q", obs, tr, rest, observedForms(tr))
	}
}

// TestTransports (relayd only): for each
// transport T a private host reserves over T; the reservation lists the
// relay's address on every transport; identify's observed address has T's
// form; a second host dials the first through the relay over T, both see
// the conn as limited (default limits), and 64 KiB echo back intact.
func TestTransports(t *testing.T) {
	runRelaydOnly(t, func(t *testing.T) {
		ca := newTestCA(t)
		r := startAllTransports(t, ca)
		for _, tr := range relayTransports() {
			t.Run(tr, func(t *testing.T) {
				a := newAllTransportsHost(t, ca)
				a.SetStreamHandler(echoProto, handleEcho)
				rsvp, evt := reserveOver(t, a, r, tr)
				checkReservationListsAll(t, rsvp, r)
				checkObserved(t, tr, evt)

				b := newAllTransportsHost(t, ca)
				dialOver(t, b, r, tr, a.ID(), true)
				checkTargetLimited(t, a, b.ID(), true)
				checkEcho(t, b, a.ID(), 64<<10)
			})
		}
	})
}

// dialOver connects b to target through r's tr address and checks the
// circuit's limited flag and which transport carries it.
func dialOver(t *testing.T, b host.Host, r *relayProc, tr string, target peer.ID, wantLimited bool) {
	t.Helper()
	addr := circuitOver(t, r, tr, target)
	if err := b.Connect(limitedCtx(t, 20*time.Second), peer.AddrInfo{ID: target, Addrs: []ma.Multiaddr{addr}}); err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	conns := connsTo(b, target)
	if len(conns) != 1 {
		t.Fatalf("want 1 conn to the target, have %d", len(conns))
	}
	if got := conns[0].Stat().Limited; got != wantLimited {
		t.Errorf("dialer sees Limited=%v, want %v", got, wantLimited)
	}
	checkConnTransport(t, b, r.Info.ID, tr)
}

// checkEcho echoes size random bytes off target over a limited stream.
func checkEcho(t *testing.T, b host.Host, target peer.ID, size int) {
	t.Helper()
	payload := randomBytes(t, size)
	res, err := echo(limitedCtx(t, streamTimeout), b, target, payload)
	if err != nil {
		t.Fatal(err)
	}
	if res.writeErr != nil || res.readErr != nil || res.echoed != len(payload) {
		t.Fatalf("echo: wrote %d (err %v), echoed %d of %d (err %v)",
			res.sent, res.writeErr, res.echoed, len(payload), res.readErr)
	}
}

// TestTransportPairs (relayd only): every pair of transports, the target
// reserved over X and the dialer reaching the relay over Y, carries a
// 1 KiB echo. One relay serves all 16 pairs, with one target per X and
// one dialer per Y, each keeping its single conn to the relay.
func TestTransportPairs(t *testing.T) {
	runRelaydOnly(t, func(t *testing.T) {
		ca := newTestCA(t)
		r := startAllTransports(t, ca)
		targets := map[string]host.Host{}
		dialers := map[string]host.Host{}
		for _, tr := range relayTransports() {
			a := newAllTransportsHost(t, ca)
			a.SetStreamHandler(echoProto, handleEcho)
			reserveOver(t, a, r, tr)
			targets[tr] = a
			dialers[tr] = newAllTransportsHost(t, ca)
		}
		for _, x := range relayTransports() {
			for _, y := range relayTransports() {
				t.Run("reserve_"+x+"_connect_"+y, func(t *testing.T) {
					a, b := targets[x], dialers[y]
					dialOver(t, b, r, y, a.ID(), true)
					checkEcho(t, b, a.ID(), 1<<10)
					checkConnTransport(t, a, r.Info.ID, x)
				})
			}
		}
	})
}

// TestTransportDataCap (relayd only): --limit-data 65536 cuts circuits whose
// relay legs run over QUIC or WSS as it does over TCP (TestDataCap): at
// most 64 KiB come back of 256 KiB, the circuit closes within 10 s, and
// with paced writes the target got at least half the cap.
func TestTransportDataCap(t *testing.T) {
	const capBytes = 65536
	cases := []struct {
		transport  string
		pace       time.Duration
		lowerBound int64
	}{
		{"quic", 5 * time.Millisecond, capBytes / 2},
		{"quic", 0, 0},
		{"wss", 5 * time.Millisecond, capBytes / 2},
		{"wss", 0, 0},
	}
	runRelaydOnly(t, func(t *testing.T) {
		ca := newTestCA(t)
		r := startAllTransports(t, ca, "--limit-data", "65536")
		for _, tc := range cases {
			name := tc.transport + "_burst"
			if tc.pace > 0 {
				name = tc.transport + "_paced"
			}
			t.Run(name, func(t *testing.T) {
				a := newAllTransportsHost(t, ca)
				received := make(chan int64, 1)
				a.SetStreamHandler(echoProto, countingEcho(received))
				reserveOver(t, a, r, tc.transport)
				b := newAllTransportsHost(t, ca)
				dialOver(t, b, r, tc.transport, a.ID(), true)
				checkDataCap(t, b, a.ID(), received, capBytes, tc.pace, tc.lowerBound)
			})
		}
	})
}
