package ratelimit

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: PerSecond tokens come back each second, up to
// Burst. Where a Config field says so, the zero Rate means its default; a
// negative PerSecond means no limit at all.
type Rate struct {
	PerSecond float64
	Burst     int
}

// NoRate is the Rate that never refuses.
var NoRate = Rate{PerSecond: -1}

// Unlimited reports whether r never refuses.
func (r Rate) Unlimited() bool { return r.PerSecond < 0 }

// Or returns def when r is the zero Rate, and r otherwise with a missing
// burst set to one second's worth (at least 1).
func (r Rate) Or(def Rate) Rate {
	if r == (Rate{}) {
		return def
	}
	if r.Burst <= 0 && !r.Unlimited() {
		r.Burst = max(1, int(math.Ceil(r.PerSecond)))
	}
	return r
}

// Validate reports a Rate no bucket can implement.
func (r Rate) Validate() error {
	switch {
	case r == Rate{} || r.Unlimited():
		return nil
	case math.IsNaN(r.PerSecond) || math.IsInf(r.PerSecond, 0) || r.PerSecond == 0:
		return fmt.Errorf("rate must be a finite number of events per second above 0, got %v", r.PerSecond)
	case r.Burst < 0:
		return fmt.Errorf("burst must be >= 0, got %d", r.Burst)
	}
	return nil
}

// maxRateKeys bounds each keyed bucket map. A key whose bucket has filled
// up again is forgotten (it would behave like a new one), so the bound is
// only reached when that many keys are all active at once; then new keys
// share one overflow bucket rather than growing the map.
const maxRateKeys = 16384

// KeyedRate is a token bucket per key (an IP, a peer) with a bounded
// number of keys. It is safe for concurrent use; a nil *KeyedRate allows
// everything.
type KeyedRate[K comparable] struct {
	r       Rate
	maxKeys int

	mu        sync.Mutex
	keys      map[K]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

// NewKeyedRate returns buckets of rate r, at most maxKeys of them (0 means
// 16384). It returns nil, which allows everything, when r is unlimited.
func NewKeyedRate[K comparable](r Rate, maxKeys int) *KeyedRate[K] {
	r = r.Or(NoRate)
	if r.Unlimited() {
		return nil
	}
	if maxKeys <= 0 {
		maxKeys = maxRateKeys
	}
	return &KeyedRate[K]{
		r:        r,
		maxKeys:  maxKeys,
		keys:     make(map[K]*rate.Limiter),
		overflow: rate.NewLimiter(rate.Limit(r.PerSecond), r.Burst),
	}
}

// Allow takes one token from key's bucket at now, or reports false.
func (k *KeyedRate[K]) Allow(key K, now time.Time) bool {
	if k == nil {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.bucket(key, now).AllowN(now, 1)
}

// Len is the number of keys tracked.
func (k *KeyedRate[K]) Len() int {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

func (k *KeyedRate[K]) bucket(key K, now time.Time) *rate.Limiter {
	if b := k.keys[key]; b != nil {
		return b
	}
	if len(k.keys) >= k.maxKeys && !k.sweep(now) {
		return k.overflow
	}
	b := rate.NewLimiter(rate.Limit(k.r.PerSecond), k.r.Burst)
	k.keys[key] = b
	return b
}

// sweep forgets keys whose bucket is full, and reports whether that made
// room. It runs at most once a second, so a map an attack keeps full costs
// one pass a second, not one per request.
func (k *KeyedRate[K]) sweep(now time.Time) bool {
	if now.Sub(k.lastSweep) < time.Second {
		return false
	}
	k.lastSweep = now
	full := float64(k.r.Burst)
	for key, b := range k.keys {
		if b.TokensAt(now) >= full {
			delete(k.keys, key)
		}
	}
	return len(k.keys) < k.maxKeys
}

// IPKey is what per-IP limits count: the address itself for IPv4, its /64
// for IPv6 (one host's usual allocation: counting single IPv6 addresses
// would hand every host 2^64 quotas). Invalid for an invalid ip.
func IPKey(ip netip.Addr) netip.Prefix {
	return prefix(ip, 32, 64)
}

// SubnetKey is what per-subnet limits count: the /24 of an IPv4 address,
// the /56 of an IPv6 one. Invalid for an invalid ip.
func SubnetKey(ip netip.Addr) netip.Prefix {
	return prefix(ip, 24, 56)
}

func prefix(ip netip.Addr, bits4, bits6 int) netip.Prefix {
	ip = ip.Unmap()
	bits := bits6
	if ip.Is4() {
		bits = bits4
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}
