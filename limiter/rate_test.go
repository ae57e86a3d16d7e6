package limiter

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

// TestReserveRateWindowExact drives the RESERVE buckets on the fake clock
// of a synctest bubble: the burst passes, the next request is refused, and
// a token comes back exactly one refill period later, not a moment sooner.
func TestReserveRateWindowExact(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		peers  func(i int) identity.PeerID // the peer of the i-th request
		burst  int
		period time.Duration
	}{
		{"per IP", Config{ReserveRatePerIP: Rate{PerSecond: 2, Burst: 5}, ReserveRatePerPeer: NoRate},
			nil, 5, 500 * time.Millisecond},
		{"per peer", Config{ReserveRatePerIP: NoRate, ReserveRatePerPeer: Rate{PerSecond: 0.1, Burst: 4}},
			func(int) identity.PeerID { return "same-peer" }, 4, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLimiter(t, tt.cfg)
				req := func(i int) error {
					p := identity.PeerID(rune('a' + i))
					if tt.peers != nil {
						p = tt.peers(i)
					}
					_, err := l.CheckReserve(Peer{p, ip("192.0.2.1")})
					return err
				}
				for i := range tt.burst {
					if err := req(i); err != nil {
						t.Fatalf("request %d of the burst: %v", i+1, err)
					}
				}
				if err := req(tt.burst); !errors.Is(err, ErrRate) {
					t.Fatalf("request over the burst: %v, want ErrRate", err)
				}
				time.Sleep(tt.period - time.Millisecond)
				if err := req(tt.burst); !errors.Is(err, ErrRate) {
					t.Fatalf("1ms before the refill: %v, want ErrRate", err)
				}
				time.Sleep(time.Millisecond)
				if err := req(tt.burst); err != nil {
					t.Fatalf("at the refill: %v", err)
				}
				if err := req(tt.burst); !errors.Is(err, ErrRate) {
					t.Fatalf("second after one refill: %v, want ErrRate", err)
				}
			})
		})
	}
}

func TestConnectRatePerIPAndPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{ConnectRatePerIP: Rate{PerSecond: 1, Burst: 3}, ConnectRatePerPeer: Rate{PerSecond: 1, Burst: 2}})
		a, b, dst := identity.PeerID("a"), identity.PeerID("b"), identity.PeerID("dst")
		for i, want := range []error{nil, nil, ErrRate} { // a's own bucket: 2
			if _, err := l.CheckConnect(Peer{a, ip("192.0.2.1")}, dst); !errors.Is(err, want) {
				t.Fatalf("a request %d: %v, want %v", i+1, err, want)
			}
		}
		// The IP's bucket (3) was drained by a's three requests, refused
		// one included: b from the same IP is refused, b elsewhere is not.
		if _, err := l.CheckConnect(Peer{b, ip("192.0.2.1")}, dst); !errors.Is(err, ErrRate) {
			t.Fatalf("b from a's IP: %v", err)
		}
		if _, err := l.CheckConnect(Peer{b, ip("192.0.2.2")}, dst); err != nil {
			t.Fatalf("b from another IP: %v", err)
		}
	})
}
