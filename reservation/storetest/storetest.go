package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/reservation"
)

// Clock is the time source the store under test was built with; the suite
// moves it.
type Clock interface {
	Now() time.Time
	Advance(d time.Duration)
}

// Run runs the suite against the store newStore returns, built on clock.
func Run(t *testing.T, clock Clock, newStore func(t *testing.T) reservation.Store) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s reservation.Store)
	}{
		{"get absent", func(t *testing.T, s reservation.Store) {
			if _, err := s.Get(ctx, newPeer(t)); !errors.Is(err, reservation.ErrNotFound) {
				t.Fatalf("Get = %v, want ErrNotFound", err)
			}
		}},
		{"put then get", func(t *testing.T, s reservation.Store) {
			r := newRes(t, clock, "n1")
			mustPut(t, s, r, false)
			got, err := s.Get(ctx, r.Peer)
			if err != nil || got.Node != "n1" || !got.Expire.Equal(r.Expire) || got.Addr != r.Addr {
				t.Fatalf("Get = %+v, %v; want %+v", got, err, r)
			}
		}},
		{"refresh keeps one slot", func(t *testing.T, s reservation.Store) {
			r := newRes(t, clock, "n1")
			mustPut(t, s, r, false)
			r.Expire = r.Expire.Add(time.Hour)
			mustPut(t, s, r, true)
			got, _ := s.Get(ctx, r.Peer)
			if !got.Expire.Equal(r.Expire) {
				t.Fatalf("expire = %v, want %v", got.Expire, r.Expire)
			}
		}},
		{"expired reads absent and sweeps", func(t *testing.T, s reservation.Store) {
			r := newRes(t, clock, "n1")
			mustPut(t, s, r, false)
			clock.Advance(2 * time.Hour)
			if _, err := s.Get(ctx, r.Peer); !errors.Is(err, reservation.ErrNotFound) {
				t.Fatalf("Get after expiry = %v", err)
			}
			gone, err := s.Sweep(ctx, clock.Now())
			if err != nil || len(gone) != 1 || gone[0].Peer != r.Peer {
				t.Fatalf("Sweep = %v, %v", gone, err)
			}
			mustPut(t, s, r, false) // an expired slot is not a refresh
		}},
		{"delete only by holder", func(t *testing.T, s reservation.Store) {
			r := newRes(t, clock, "n1")
			mustPut(t, s, r, false)
			if err := s.Delete(ctx, r.Peer, "n2"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, r.Peer); err != nil {
				t.Fatalf("other node's delete removed it: %v", err)
			}
			if err := s.Delete(ctx, r.Peer, "n1"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, r.Peer); !errors.Is(err, reservation.ErrNotFound) {
				t.Fatalf("Get after delete = %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

func mustPut(t *testing.T, s reservation.Store, r reservation.Reservation, wantRefresh bool) {
	t.Helper()
	refreshed, err := s.Put(context.Background(), r)
	if err != nil || refreshed != wantRefresh {
		t.Fatalf("Put = %v, %v; want refreshed=%v", refreshed, err, wantRefresh)
	}
}

func newRes(t *testing.T, clock Clock, node string) reservation.Reservation {
	return reservation.Reservation{
		Peer:   newPeer(t),
		Node:   node,
		Expire: clock.Now().Add(time.Hour).Truncate(time.Second),
		Addr:   netip.MustParseAddr("192.0.2.7"),
	}
}

func newPeer(t *testing.T) identity.PeerID {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return identity.PeerIDOf(k)
}
