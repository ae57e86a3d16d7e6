package ratelimit

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

func TestKeyedRateBoundsKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := NewKeyedRate[int](Rate{PerSecond: 1, Burst: 1}, 4)
		now := time.Now()
		for i := range 4 {
			if !k.Allow(i, now) {
				t.Fatalf("key %d refused", i)
			}
		}
		// The map is full of active keys: a new key shares the overflow
		// bucket (one token), and the map does not grow.
		if !k.Allow(100, now) || k.Allow(101, now) {
			t.Fatal("overflow bucket should pass exactly one")
		}
		if k.Len() != 4 {
			t.Fatalf("Len = %d, want 4", k.Len())
		}
		// A second later every bucket is full again: a sweep forgets them.
		now = now.Add(time.Second)
		if !k.Allow(200, now) {
			t.Fatal("new key after the sweep refused")
		}
		if k.Len() != 1 {
			t.Fatalf("Len after sweep = %d, want 1", k.Len())
		}
	})
	if NewKeyedRate[int](NoRate, 0) != nil {
		t.Fatal("unlimited rate should give a nil (allow-all) KeyedRate")
	}
	var none *KeyedRate[int]
	if !none.Allow(1, time.Now()) {
		t.Fatal("nil KeyedRate refused")
	}
}

func TestIPAndSubnetKeys(t *testing.T) {
	tests := []struct {
		ip, key, subnet string
	}{
		{"192.0.2.77", "192.0.2.77/32", "192.0.2.0/24"},
		{"::ffff:192.0.2.77", "192.0.2.77/32", "192.0.2.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64", "2001:db8:1::/56"},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.ip)
		if got := IPKey(a).String(); got != tt.key {
			t.Errorf("IPKey(%s) = %s, want %s", tt.ip, got, tt.key)
		}
		if got := SubnetKey(a).String(); got != tt.subnet {
			t.Errorf("SubnetKey(%s) = %s, want %s", tt.ip, got, tt.subnet)
		}
	}
	if IPKey(netip.Addr{}).IsValid() || SubnetKey(netip.Addr{}).IsValid() {
		t.Error("keys of an invalid IP should be invalid")
	}
}
