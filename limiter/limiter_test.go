package limiter

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

func peer(t *testing.T) identity.PeerID {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return identity.PeerIDOf(k)
}

func TestReserveQuotaCountsSlotsNotRequests(t *testing.T) {
	l := New(Config{MaxReservations: 2})
	a, b, c := peer(t), peer(t), peer(t)
	for range 100 { // refreshes and reconnects never take a second slot
		if err := l.Reserve(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Reserve(b); err != nil {
		t.Fatal(err)
	}
	if err := l.Reserve(c); !errors.Is(err, ErrTotalQuota) {
		t.Fatalf("third peer: %v, want ErrTotalQuota", err)
	}
	if got := Reason(l.Reserve(c)); got != "total_quota" {
		t.Fatalf("reason %q", got)
	}
	l.Release(a)
	if err := l.Reserve(c); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if n := l.Reservations(); n != 2 {
		t.Fatalf("Reservations = %d", n)
	}
}

func TestCircuitQuotaPerPeerBothRoles(t *testing.T) {
	l := New(Config{MaxCircuitsPerPeer: 2})
	a, b, c := peer(t), peer(t), peer(t)
	d1, err := l.OpenCircuit(a, b)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := l.OpenCircuit(c, a) // a as destination counts too
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.OpenCircuit(a, c); !errors.Is(err, ErrCircuitQuota) {
		t.Fatalf("third circuit of a: %v", err)
	}
	d1()
	d1() // idempotent
	if _, err := l.OpenCircuit(b, a); err != nil {
		t.Fatalf("after close: %v", err)
	}
	d2()
}

func TestDefaultsAndLimit(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want Limit
		ok   bool
	}{
		{"defaults", Config{}, Limit{2 * time.Minute, 131072}, true},
		{"rounded to seconds", Config{LimitDuration: 2500 * time.Millisecond, LimitData: 10}, Limit{2 * time.Second, 10}, true},
		{"sub-second becomes 1s", Config{LimitDuration: time.Millisecond}, Limit{time.Second, 131072}, true},
		{"unlimited", Config{Unlimited: true}, Limit{}, false},
		{"no data cap", Config{LimitData: -1}, Limit{2 * time.Minute, 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := New(tt.in).CircuitLimit()
			if got != tt.want || ok != tt.ok {
				t.Fatalf("CircuitLimit = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	c := Config{}.Defaults()
	if c.MaxReservations != 128 || c.MaxCircuitsPerPeer != 16 {
		t.Fatalf("defaults %+v", c)
	}
}
