package limiter

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/relayd/relayd/p2p/identity"
)

func TestReloadAppliesToNewRequestsOnly(t *testing.T) {
	l := newLimiter(t, noRates(Config{MaxReservationsPerIP: 3, MaxCircuitsPerPeer: 4}))
	held := []identity.PeerID{peer(t), peer(t), peer(t)}
	for _, p := range held {
		if err := reserve(l, p, ip("192.0.2.1")); err != nil {
			t.Fatal(err)
		}
	}
	src, dst := peer(t), held[0]
	c, err := l.OpenCircuit(Peer{src, ip("192.0.2.9")}, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	err = l.Reload(noRates(Config{
		MaxReservationsPerIP: 1, LimitData: 10,
		DenyPeers: []identity.PeerID{src},
	}))
	if err != nil {
		t.Fatal(err)
	}
	// Granted stays granted: three slots above the new cap of 1, each
	// refreshable, and the open circuit keeps its old caps.
	if n := l.Reservations(); n != 3 {
		t.Fatalf("Reservations after reload = %d", n)
	}
	for _, p := range held {
		if _, refreshed, err := l.Reserve(Peer{p, ip("192.0.2.1")}); err != nil || !refreshed {
			t.Fatalf("refresh after reload: %v", err)
		}
	}
	if c.Limit.Data != 128<<10 {
		t.Fatalf("open circuit's grant changed: %+v", c.Limit)
	}
	// New requests see the new config.
	if err := reserve(l, peer(t), ip("192.0.2.1")); !errors.Is(err, ErrIPQuota) {
		t.Fatalf("new reservation: %v, want ErrIPQuota", err)
	}
	if _, err := l.CheckConnect(Peer{src, ip("192.0.2.9")}, dst); !errors.Is(err, ErrDenied) {
		t.Fatalf("newly denied peer: %v", err)
	}
	c2, err := l.OpenCircuit(Peer{peer(t), ip("192.0.2.8")}, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.Limit.Data != 10 {
		t.Fatalf("new circuit's grant %+v, want Data 10", c2.Limit)
	}
}

func TestInvalidReloadKeepsConfig(t *testing.T) {
	l := newLimiter(t, Config{MaxReservationsPerIP: 3})
	err := l.Reload(Config{DenyCIDRs: []netip.Prefix{{}}})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	if got := l.Config().MaxReservationsPerIP; got != 3 {
		t.Fatalf("config changed by a failed reload: per IP %d", got)
	}
}
