package limiter

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

func peer(t testing.TB) identity.PeerID {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return identity.PeerIDOf(k)
}

func newLimiter(t testing.TB, cfg Config) *Limiter {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// noRates lifts every request rate, so quota tests see only quotas.
func noRates(c Config) Config {
	c.ReserveRatePerIP, c.ReserveRatePerPeer = NoRate, NoRate
	c.ConnectRatePerIP, c.ConnectRatePerPeer = NoRate, NoRate
	return c
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func reserve(l *Limiter, p identity.PeerID, addr netip.Addr) error {
	if _, err := l.CheckReserve(Peer{p, addr}); err != nil {
		return err
	}
	_, _, err := l.Reserve(Peer{p, addr})
	return err
}

func TestReserveQuotaCountsSlotsNotRequests(t *testing.T) {
	l := newLimiter(t, noRates(Config{MaxReservations: 2}))
	a, b, c := peer(t), peer(t), peer(t)
	for i := range 100 { // refreshes and reconnects never take a second slot
		_, refreshed, err := l.Reserve(Peer{a, ip("192.0.2.1")})
		if err != nil || refreshed != (i > 0) {
			t.Fatalf("refresh %d: refreshed %v, err %v", i, refreshed, err)
		}
	}
	if err := reserve(l, b, ip("192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	if err := reserve(l, c, ip("192.0.2.3")); !errors.Is(err, ErrTotalQuota) {
		t.Fatalf("third peer: %v, want ErrTotalQuota", err)
	}
	l.Release(a)
	if err := reserve(l, c, ip("192.0.2.3")); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if n := l.Reservations(); n != 2 {
		t.Fatalf("Reservations = %d", n)
	}
}

func TestReservationQuotasPerIPAndSubnet(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		addrs func(i int) netip.Addr // address of the i-th peer
		ok    int                    // how many succeed before the refusal
		want  error
	}{
		{"9th from one IPv4", Config{}, func(int) netip.Addr { return ip("198.51.100.7") }, 8, ErrIPQuota},
		{"9th from one IPv6 /64", Config{}, func(i int) netip.Addr {
			return ip(fmt.Sprintf("2001:db8:0:1::%x", i+1))
		}, 8, ErrIPQuota},
		{"33rd from one /24", Config{MaxReservations: 100}, func(i int) netip.Addr {
			return ip(fmt.Sprintf("203.0.113.%d", i/4+1))
		}, 32, ErrSubnetQuota},
		{"33rd from one /56", Config{MaxReservations: 100}, func(i int) netip.Addr {
			return ip(fmt.Sprintf("2001:db8:0:%x::1", i/4))
		}, 32, ErrSubnetQuota},
		{"total", Config{MaxReservations: 3}, func(i int) netip.Addr {
			return ip(fmt.Sprintf("10.%d.0.1", i))
		}, 3, ErrTotalQuota},
		{"per-IP cap off", Config{MaxReservationsPerIP: -1, MaxReservationsPerSubnet: 5}, func(int) netip.Addr {
			return ip("198.51.100.7")
		}, 5, ErrSubnetQuota},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t, noRates(tt.cfg))
			for i := range tt.ok {
				if err := reserve(l, peer(t), tt.addrs(i)); err != nil {
					t.Fatalf("reservation %d: %v", i+1, err)
				}
			}
			err := reserve(l, peer(t), tt.addrs(tt.ok))
			if !errors.Is(err, tt.want) {
				t.Fatalf("reservation %d: %v, want %v", tt.ok+1, err, tt.want)
			}
			if l.Reservations() != tt.ok {
				t.Fatalf("Reservations = %d, want %d", l.Reservations(), tt.ok)
			}
		})
	}
}

func TestReserveMovesSlotWithPeer(t *testing.T) {
	l := newLimiter(t, noRates(Config{MaxReservationsPerIP: 1}))
	a, b := peer(t), peer(t)
	if err := reserve(l, a, ip("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	if err := reserve(l, b, ip("192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	// a reconnects from b's IP: full, so a keeps its old slot.
	if _, _, err := l.Reserve(Peer{a, ip("192.0.2.2")}); !errors.Is(err, ErrIPQuota) {
		t.Fatalf("move to a full IP: %v", err)
	}
	// a moves to a free IP: its old IP's count is freed.
	if _, refreshed, err := l.Reserve(Peer{a, ip("192.0.2.3")}); err != nil || !refreshed {
		t.Fatalf("move: refreshed %v, err %v", refreshed, err)
	}
	if err := reserve(l, peer(t), ip("192.0.2.1")); err != nil {
		t.Fatalf("old IP not freed: %v", err)
	}
	if n := l.Reservations(); n != 3 {
		t.Fatalf("Reservations = %d, want 3", n)
	}
}

func TestCircuitQuotas(t *testing.T) {
	l := newLimiter(t, noRates(Config{MaxCircuitsPerPeer: 2, MaxCircuits: 3}))
	a, b, c, d := peer(t), peer(t), peer(t), peer(t)
	open := func(src, dst identity.PeerID) (*Circuit, error) {
		return l.OpenCircuit(Peer{src, ip("192.0.2.1")}, dst)
	}
	c1, err := open(a, b)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := open(c, a) // a as destination counts too
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(a, c); !errors.Is(err, ErrCircuitQuota) {
		t.Fatalf("third circuit of a: %v", err)
	}
	c3, err := open(c, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(b, d); !errors.Is(err, ErrTotalCircuits) {
		t.Fatalf("fourth circuit: %v", err)
	}
	c1.Close()
	c1.Close() // idempotent
	if _, err := open(b, a); err != nil {
		t.Fatalf("after close: %v", err)
	}
	c2.Close()
	c3.Close()
}

func TestCircuitGrant(t *testing.T) {
	trusted := peer(t)
	tests := []struct {
		name    string
		cfg     Config
		src     identity.PeerID
		want    Limit
		limited bool
	}{
		{"defaults", Config{}, peer(t), Limit{2 * time.Minute, 131072, 0}, true},
		{"rounded to seconds", Config{LimitDuration: 2500 * time.Millisecond, LimitData: 10}, peer(t), Limit{2 * time.Second, 10, 0}, true},
		{"sub-second becomes 1s", Config{LimitDuration: time.Millisecond}, peer(t), Limit{time.Second, 131072, 0}, true},
		{"unlimited", Config{Unlimited: true}, peer(t), Limit{}, false},
		{"no data cap", Config{LimitData: -1}, peer(t), Limit{2 * time.Minute, 0, 0}, true},
		{"paced", Config{LimitRate: 1000}, peer(t), Limit{2 * time.Minute, 131072, 1000}, true},
		{"allow-listed class", Config{Classes: []Class{{Name: "trusted", Peers: []identity.PeerID{trusted}, Limits: Unrestricted()}}},
			trusted, Limit{}, false},
		{"class override keeps the rest", Config{LimitRate: 7, Classes: []Class{{Name: "big", Peers: []identity.PeerID{trusted}, Limits: ClassLimits{LimitData: 1 << 20}}}},
			trusted, Limit{2 * time.Minute, 1 << 20, 7}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newLimiter(t, tt.cfg).OpenCircuit(Peer{tt.src, ip("192.0.2.1")}, peer(t))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Limit != tt.want || c.Limited != tt.limited {
				t.Fatalf("grant %+v limited %v; want %+v, %v", c.Limit, c.Limited, tt.want, tt.limited)
			}
		})
	}
}

func TestACLAndClasses(t *testing.T) {
	denied, trusted, other := peer(t), peer(t), peer(t)
	l := newLimiter(t, Config{
		DenyPeers: []identity.PeerID{denied},
		DenyCIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
		Classes: []Class{
			{Name: "trusted", Peers: []identity.PeerID{trusted}, Limits: Unrestricted()},
			{Name: "office", CIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}},
		},
	})
	tests := []struct {
		name  string
		p     Peer
		class string
		err   error
	}{
		{"denied peer", Peer{denied, ip("192.0.2.1")}, DeniedClass, ErrDenied},
		{"denied CIDR beats allow-list", Peer{trusted, ip("203.0.113.9")}, DeniedClass, ErrDenied},
		{"allow-listed peer", Peer{trusted, ip("192.0.2.1")}, "trusted", nil},
		{"class by CIDR", Peer{other, ip("198.51.100.3")}, "office", nil},
		{"class by IPv4-mapped CIDR", Peer{other, ip("::ffff:198.51.100.3")}, "office", nil},
		{"class by IPv6 CIDR", Peer{other, ip("2001:db8::1")}, "office", nil},
		{"default", Peer{other, ip("192.0.2.1")}, DefaultClass, nil},
		{"no IP", Peer{other, netip.Addr{}}, DefaultClass, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := l.ClassOf(tt.p); got != tt.class {
				t.Errorf("ClassOf = %q, want %q", got, tt.class)
			}
			class, err := l.CheckReserve(tt.p)
			if class != tt.class || !errors.Is(err, tt.err) {
				t.Errorf("CheckReserve = %q, %v; want %q, %v", class, err, tt.class, tt.err)
			}
			class, err = l.CheckConnect(tt.p, peer(t))
			if class != tt.class || !errors.Is(err, tt.err) {
				t.Errorf("CheckConnect = %q, %v; want %q, %v", class, err, tt.class, tt.err)
			}
		})
	}
	// A CONNECT to a denied peer is denied too.
	if _, err := l.CheckConnect(Peer{other, ip("192.0.2.1")}, denied); !errors.Is(err, ErrDenied) {
		t.Fatalf("connect to denied peer: %v", err)
	}
}

func TestAllowListedClassSkipsPerPeerQuotas(t *testing.T) {
	trusted := peer(t)
	l := newLimiter(t, noRates(Config{
		MaxCircuitsPerPeer: 1, MaxReservationsPerIP: 1,
		Classes: []Class{{Name: "trusted", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Peers: []identity.PeerID{trusted}, Limits: Unrestricted()}},
	}))
	for range 5 {
		if err := reserve(l, peer(t), ip("10.1.1.1")); err != nil {
			t.Fatalf("allow-listed CIDR: %v", err)
		}
	}
	for range 5 {
		if _, err := l.OpenCircuit(Peer{trusted, ip("192.0.2.1")}, trusted); err != nil {
			t.Fatalf("allow-listed circuits: %v", err)
		}
	}
}

func TestReasonTable(t *testing.T) {
	tests := []struct {
		err    error
		reason string
	}{
		{ErrDenied, "acl_denied"},
		{fmt.Errorf("wrapped: %w", ErrRate), "rate"},
		{ErrIPQuota, "ip_quota"},
		{ErrSubnetQuota, "subnet_quota"},
		{ErrTotalQuota, "total_quota"},
		{ErrCircuitQuota, "circuit_quota"},
		{ErrTotalCircuits, "total_circuit_quota"},
		{ErrFleetUnavailable, "fleet_unavailable"},
		{errors.New("store down"), "error"},
	}
	for _, tt := range tests {
		if r := Reason(tt.err); r != tt.reason {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, r, tt.reason)
		}
	}
	if len(Reasons()) != len(tests)-1 {
		t.Errorf("Reasons() = %v: a table row lacks a test", Reasons())
	}
}

func TestValidate(t *testing.T) {
	p := peer(t)
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"class", Config{Classes: []Class{{Name: "trusted_1", Peers: []identity.PeerID{p}}}}, true},
		{"reserved class name", Config{Classes: []Class{{Name: "default"}}}, false},
		{"duplicate class", Config{Classes: []Class{{Name: "a"}, {Name: "a"}}}, false},
		{"bad class name", Config{Classes: []Class{{Name: "Trusted"}}}, false},
		{"empty peer", Config{DenyPeers: []identity.PeerID{""}}, false},
		{"invalid CIDR", Config{DenyCIDRs: []netip.Prefix{{}}}, false},
		{"zero rate with burst", Config{ReserveRatePerIP: Rate{Burst: 3}}, false},
		{"negative burst", Config{ConnectRatePerPeer: Rate{PerSecond: 1, Burst: -1}}, false},
		{"duration too long", Config{LimitDuration: 1 << 62}, false},
		{"class rate", Config{Classes: []Class{{Name: "x", Limits: ClassLimits{ConnectRatePerIP: Rate{Burst: 1}}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
			if _, err := New(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("New = %v", err)
			}
		})
	}
	c := Config{}.Defaults()
	if c.MaxReservations != 128 || c.MaxReservationsPerIP != 8 || c.MaxReservationsPerSubnet != 32 ||
		c.MaxCircuits != 1024 || c.MaxCircuitsPerPeer != 16 {
		t.Fatalf("defaults %+v", c)
	}
}
