package limiter

import (
	"net/netip"
	"testing"
)

func TestReserveQuotasAndHold(t *testing.T) {
	l, err := New(Config{MaxReservations: 5, MaxReservationsPerIP: 1, MaxReservationsPerSubnet: 3,
		Classes: []Class{{Name: "trusted", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Limits: Unrestricted()}}})
	if err != nil {
		t.Fatal(err)
	}
	a := Peer{ID: peer(t), IP: netip.MustParseAddr("192.0.2.1")}
	if g, q := l.ReserveQuotas(a); g.Class != DefaultClass || q != (Quotas{Total: 5, PerIP: 1, PerSubnet: 3}) {
		t.Fatalf("ReserveQuotas = %+v, %+v", g, q)
	}
	if _, q := l.ReserveQuotas(Peer{ID: a.ID, IP: netip.MustParseAddr("10.1.2.3")}); q.PerIP >= 0 || q.Total != 5 {
		t.Fatalf("unrestricted class quotas = %+v", q)
	}
	// Hold ignores the local caps: the fleet checked them.
	b := Peer{ID: peer(t), IP: a.IP}
	if l.Hold(a) || l.Hold(b) || !l.Hold(a) {
		t.Fatal("Hold: want new, new, refreshed")
	}
	if n := l.Reservations(); n != 2 {
		t.Fatalf("Reservations = %d, want 2", n)
	}
	b.IP = netip.MustParseAddr("192.0.2.9") // moves: one slot still
	if !l.Hold(b) || l.Reservations() != 2 {
		t.Fatal("moved slot counted twice")
	}
	if !l.Release(a.ID) || l.Reservations() != 1 {
		t.Fatal("Release after Hold")
	}
}
