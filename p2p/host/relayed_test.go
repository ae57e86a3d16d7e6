package host_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/proxyproto"
	"github.com/relayd/relayd/p2p/transport/tcp"
)

func newTCPHost(t *testing.T, tr transport.Transport) *host.Host {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h, err := host.New(host.Config{Key: k, Transports: []transport.Transport{tr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestUpgradeRelayed: the full upgrade runs over any byte pipe (here a
// net.Pipe standing in for a circuit), both ends get a relayed connection
// with the circuit address, and streams work over it.
func TestUpgradeRelayed(t *testing.T) {
	leakcheck.Check(t)
	a, b := newTCPHost(t, tcp.New()), newTCPHost(t, tcp.New())
	_, rk, _ := ed25519.GenerateKey(rand.Reader)
	relayID := identity.PeerIDOf(rk)
	pa, pb := net.Pipe()
	type res struct {
		c   *host.Conn
		err error
	}
	got := make(chan res, 1)
	go func() {
		c, err := b.UpgradeRelayed(ctx10(t), pb, relayID, a.ID(), false)
		got <- res{c, err}
	}()
	ca, err := a.UpgradeRelayed(ctx10(t), pa, relayID, b.ID(), true)
	if err != nil {
		t.Fatal(err)
	}
	rb := <-got
	if rb.err != nil {
		t.Fatal(rb.err)
	}
	cb := rb.c
	circ := "/p2p/" + relayID.String() + "/p2p-circuit"
	for _, c := range []*host.Conn{ca, cb} {
		if !c.Relayed() || c.RemoteMultiaddr().String() != circ || c.Transport() != host.CircuitLabel {
			t.Errorf("conn relayed %v, remote %v, transport %s", c.Relayed(), c.RemoteMultiaddr(), c.Transport())
		}
	}
	if ca.Inbound() || !cb.Inbound() || cb.RemotePeer() != a.ID() {
		t.Errorf("inbound: dialer %v, listener %v; listener sees %s", ca.Inbound(), cb.Inbound(), cb.RemotePeer())
	}
	if _, err := a.Identify(ctx10(t), ca); err != nil {
		t.Errorf("identify over the circuit: %v", err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel() // only the connections there now
	if c, err := a.WaitConn(done, b.ID(), host.DirectConn); err == nil {
		t.Errorf("WaitConn(DirectConn) returned the relayed %v", c.RemoteMultiaddr())
	}
}

// TestUpgradeRelayedChecksPeer: the listener of a circuit refuses a peer
// other than the one the relay named.
func TestUpgradeRelayedChecksPeer(t *testing.T) {
	leakcheck.Check(t)
	a, b, other := newTCPHost(t, tcp.New()), newTCPHost(t, tcp.New()), newTCPHost(t, tcp.New())
	pa, pb := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := a.UpgradeRelayed(ctx10(t), pa, other.ID(), b.ID(), true)
		errc <- err
	}()
	if _, err := b.UpgradeRelayed(ctx10(t), pb, other.ID(), other.ID(), false); err == nil {
		t.Fatal("listener accepted the wrong peer")
	}
	<-errc
}

// TestDialAsResponder: the DCUtR listener dials but answers the upgrade
// as responder; the other end (here a plain socket upgraded as initiator)
// sees an ordinary connection.
func TestDialAsResponder(t *testing.T) {
	leakcheck.Check(t)
	a, b := newTCPHost(t, tcp.New()), newTCPHost(t, tcp.New())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		_, err = b.UpgradeRelayed(ctx10(t), nc, a.ID(), a.ID(), true)
		errc <- err
	}()
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	c, err := a.DialAsResponder(ctx10(t), addr, b.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if c.Inbound() || c.RemotePeer() != b.ID() || c.Relayed() {
		t.Errorf("conn inbound %v, peer %s, relayed %v", c.Inbound(), c.RemotePeer(), c.Relayed())
	}
}

// TestIdentifyObservedBehindProxy: behind a trusted load balancer,
// identify's observedAddr is the client's own address from the PROXY
// header, exactly.
func TestIdentifyObservedBehindProxy(t *testing.T) {
	leakcheck.Check(t)
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	srv, err := host.New(host.Config{Key: k, Transports: []transport.Transport{tcp.New()}, ParkIdle: 50 * time.Millisecond,
		ProxyProtocol: proxyproto.Config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	addr := serveOn(t, srv, "/ip4/127.0.0.1/tcp/0")[0]
	cli := newTCPHost(t, proxyproto.DialTransport{Transport: tcp.New(), Source: netip.MustParseAddrPort("203.0.113.7:4242")})
	c, err := cli.Dial(ctx10(t), addr, srv.ID())
	if err != nil {
		t.Fatal(err)
	}
	info, err := cli.Identify(ctx10(t), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.ObservedAddr.String(); got != "/ip4/203.0.113.7/tcp/4242" {
		t.Errorf("observedAddr %s, want /ip4/203.0.113.7/tcp/4242", got)
	}
	// A connection behind the balancer parks like any TCP connection (the
	// PROXY reader survives the read deadline that parks it) and serves
	// streams afterwards.
	waitFor(t, func() bool {
		cs := srv.ConnsToPeer(cli.ID())
		return len(cs) == 1 && cs[0].Parked()
	})
	if _, err := cli.Identify(ctx10(t), c); err != nil {
		t.Fatalf("identify over a parked connection: %v", err)
	}
}

// TestReusingTCPDialsFromListenPort: a reusing transport's dials leave
// from its listening port, the mapping peers observe.
func TestReusingTCPDialsFromListenPort(t *testing.T) {
	leakcheck.Check(t)
	tr := tcp.NewReusing()
	l, err := tr.Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0"), transport.ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	c, err := tr.Dial(context.Background(), ma.StringCast("/ip4/127.0.0.1/tcp/"+strconv.Itoa(target.Addr().(*net.TCPAddr).Port)), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.LocalMultiaddr().Equal(l.Multiaddr()) {
		t.Errorf("dialed from %v, want the listen address %v", c.LocalMultiaddr(), l.Multiaddr())
	}
}
