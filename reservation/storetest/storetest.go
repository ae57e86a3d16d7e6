package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/netip"
	"sync"
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

// Store is a reservation.Store that can count its live reservations, so
// the suite can see how many slots a race left.
type Store interface {
	reservation.Store
	Count(ctx context.Context) (int, error)
}

// NewFleet returns one store per node name, all sharing one fresh, empty
// state (for a single-node store, the same store each time), each node
// alive for as long as the test runs.
type NewFleet func(t *testing.T, nodes ...string) []Store

// Run runs the suite against the stores newFleet returns, built on clock.
func Run(t *testing.T, clock Clock, newFleet NewFleet) {
	ctx := context.Background()
	one := func(t *testing.T) Store { return newFleet(t, "n1")[0] }
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"get absent", func(t *testing.T) {
			if _, err := one(t).Get(ctx, NewPeer(t)); !errors.Is(err, reservation.ErrNotFound) {
				t.Fatalf("Get = %v, want ErrNotFound", err)
			}
		}},
		{"put then get", func(t *testing.T) {
			s := one(t)
			r := newRes(t, clock, "n1")
			mustPut(t, s, r, false)
			got, err := s.Get(ctx, r.Peer)
			if err != nil || got.Node != "n1" || !got.Expire.Equal(r.Expire) || got.Addr != r.Addr {
				t.Fatalf("Get = %+v, %v; want %+v", got, err, r)
			}
		}},
		{"refresh keeps one slot", func(t *testing.T) {
			s := one(t)
			r := newRes(t, clock, "n1")
			mustPut(t, s, r, false)
			r.Expire = r.Expire.Add(time.Hour)
			mustPut(t, s, r, true)
			got, _ := s.Get(ctx, r.Peer)
			if !got.Expire.Equal(r.Expire) {
				t.Fatalf("expire = %v, want %v", got.Expire, r.Expire)
			}
			mustCount(t, s, 1)
		}},
		{"expired reads absent and sweeps", func(t *testing.T) {
			s := one(t)
			r := newRes(t, clock, "n1")
			mustPut(t, s, r, false)
			clock.Advance(2 * time.Hour)
			if _, err := s.Get(ctx, r.Peer); !errors.Is(err, reservation.ErrNotFound) {
				t.Fatalf("Get after expiry = %v", err)
			}
			mustCount(t, s, 0) // stops counting before any sweep
			gone, err := s.Sweep(ctx, clock.Now())
			if err != nil || len(gone) != 1 || gone[0].Peer != r.Peer || gone[0].Node != "n1" {
				t.Fatalf("Sweep = %v, %v", gone, err)
			}
			mustPut(t, s, r, false) // an expired slot is not a refresh
		}},
		{"delete only by holder", func(t *testing.T) {
			s := one(t)
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
			mustCount(t, s, 0)
		}},
		{"another node takes over", func(t *testing.T) {
			f := newFleet(t, "n1", "n2")
			r := newRes(t, clock, "n1")
			mustPut(t, f[0], r, false)
			r.Node = "n2"
			mustPut(t, f[1], r, true)
			if got, err := f[0].Get(ctx, r.Peer); err != nil || got.Node != "n2" {
				t.Fatalf("Get from n1 = %+v, %v; want held by n2", got, err)
			}
			if err := f[0].Delete(ctx, r.Peer, "n1"); err != nil {
				t.Fatal(err)
			}
			if got, err := f[1].Get(ctx, r.Peer); err != nil || got.Node != "n2" {
				t.Fatalf("n1's delete removed n2's slot: %+v, %v", got, err)
			}
			mustCount(t, f[0], 1)
		}},
		{"two nodes race for one peer", func(t *testing.T) {
			f := newFleet(t, "n1", "n2")
			const rounds = 1000
			for i := range rounds {
				r := newRes(t, clock, "n1")
				var wg sync.WaitGroup
				for j, s := range f {
					r := r
					r.Node = []string{"n1", "n2"}[j]
					wg.Go(func() {
						if _, err := s.Put(ctx, r); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				got, err := f[1].Get(ctx, r.Peer)
				if err != nil || (got.Node != "n1" && got.Node != "n2") {
					t.Fatalf("round %d: Get = %+v, %v", i, got, err)
				}
				if n, err := f[0].Count(ctx); err != nil || n != i+1 {
					t.Fatalf("round %d: %d slots (%v), want %d: one per peer", i, n, err, i+1)
				}
			}
		}},
		{"done context changes nothing", func(t *testing.T) {
			s := one(t)
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			r := newRes(t, clock, "n1")
			if _, err := s.Put(cctx, r); !errors.Is(err, context.Canceled) {
				t.Fatalf("Put = %v, want context.Canceled", err)
			}
			if _, err := s.Get(ctx, r.Peer); !errors.Is(err, reservation.ErrNotFound) {
				t.Fatalf("cancelled Put wrote: Get = %v", err)
			}
			mustPut(t, s, r, false)
			if _, err := s.Get(cctx, r.Peer); !errors.Is(err, context.Canceled) {
				t.Fatalf("Get = %v, want context.Canceled", err)
			}
			if err := s.Delete(cctx, r.Peer, "n1"); !errors.Is(err, context.Canceled) {
				t.Fatalf("Delete = %v, want context.Canceled", err)
			}
			if _, err := s.Get(ctx, r.Peer); err != nil {
				t.Fatalf("cancelled Delete removed it: %v", err)
			}
			dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
			defer cancel()
			if _, err := s.Get(dctx, r.Peer); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Get past deadline = %v, want context.DeadlineExceeded", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func mustPut(t *testing.T, s reservation.Store, r reservation.Reservation, wantRefresh bool) {
	t.Helper()
	refreshed, err := s.Put(context.Background(), r)
	if err != nil || refreshed != wantRefresh {
		t.Fatalf("Put = %v, %v; want refreshed=%v", refreshed, err, wantRefresh)
	}
}

func mustCount(t *testing.T, s Store, want int) {
	t.Helper()
	if n, err := s.Count(context.Background()); err != nil || n != want {
		t.Fatalf("Count = %d, %v; want %d", n, err, want)
	}
}

func newRes(t *testing.T, clock Clock, node string) reservation.Reservation {
	return reservation.Reservation{
		Peer:   NewPeer(t),
		Node:   node,
		Expire: clock.Now().Add(time.Hour).Truncate(time.Second),
		Addr:   netip.MustParseAddr("192.0.2.7"),
	}
}

// NewPeer is a fresh random peer ID.
func NewPeer(t testing.TB) identity.PeerID {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return identity.PeerIDOf(k)
}
