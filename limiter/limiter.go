package limiter

import (
	"errors"
	"sync"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

// Refusals.
var (
	ErrTotalQuota   = errors.New("reservation quota reached")
	ErrCircuitQuota = errors.New("circuit quota reached")
)

// Reason is the label logs and metrics use for a refusal error.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrTotalQuota):
		return "total_quota"
	case errors.Is(err, ErrCircuitQuota):
		return "circuit_quota"
	default:
		return "error"
	}
}

// Config sets the node's limits. The zero value of a field means the
// default written on it.
type Config struct {
	// MaxReservations caps the reservations this node holds. Default 128.
	MaxReservations int
	// MaxCircuitsPerPeer caps a peer's open circuits, as source or
	// destination. Default 16.
	MaxCircuitsPerPeer int
	// LimitDuration caps a circuit's lifetime. Default 2 min. Rounded down
	// to whole seconds on the wire (at least 1 s).
	LimitDuration time.Duration
	// LimitData caps the bytes a circuit carries in each direction.
	// Default 131072 (128 KiB); negative means no data cap (only the
	// duration applies, sent as Limit.data = 0).
	LimitData int64
	// Unlimited drops both caps: circuits carry no Limit at all, and
	// clients treat them as ordinary connections.
	Unlimited bool
}

// Defaults returns c with every zero field set to its default.
func (c Config) Defaults() Config {
	if c.MaxReservations <= 0 {
		c.MaxReservations = 128
	}
	if c.MaxCircuitsPerPeer <= 0 {
		c.MaxCircuitsPerPeer = 16
	}
	if c.LimitDuration <= 0 {
		c.LimitDuration = 2 * time.Minute
	}
	if c.LimitDuration < time.Second {
		c.LimitDuration = time.Second
	}
	c.LimitDuration = c.LimitDuration.Truncate(time.Second)
	if c.LimitData == 0 {
		c.LimitData = 128 << 10
	}
	return c
}

// Limit is what one circuit may use; zero fields mean no cap.
type Limit struct {
	Duration time.Duration
	Data     int64
}

// Limiter applies Config. It is safe for concurrent use.
type Limiter struct {
	cfg Config

	mu       sync.Mutex
	reserved map[identity.PeerID]struct{}
	circuits map[identity.PeerID]int
}

// New returns a limiter for cfg (defaults applied).
func New(cfg Config) *Limiter {
	return &Limiter{
		cfg:      cfg.Defaults(),
		reserved: make(map[identity.PeerID]struct{}),
		circuits: make(map[identity.PeerID]int),
	}
}

// Config is the effective configuration.
func (l *Limiter) Config() Config { return l.cfg }

// Reserve takes a slot for p, or keeps the one p holds.
func (l *Limiter) Reserve(p identity.PeerID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.reserved[p]; ok {
		return nil
	}
	if len(l.reserved) >= l.cfg.MaxReservations {
		return ErrTotalQuota
	}
	l.reserved[p] = struct{}{}
	return nil
}

// Release frees p's slot and reports whether p held one.
func (l *Limiter) Release(p identity.PeerID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, held := l.reserved[p]
	delete(l.reserved, p)
	return held
}

// Reservations is the number of slots held.
func (l *Limiter) Reservations() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reserved)
}

// OpenCircuit counts a circuit from src to dst against both peers and
// returns the func that uncounts it (call it exactly once).
func (l *Limiter) OpenCircuit(src, dst identity.PeerID) (done func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	max := l.cfg.MaxCircuitsPerPeer
	if l.circuits[src] >= max || l.circuits[dst] >= max {
		return nil, ErrCircuitQuota
	}
	l.circuits[src]++
	l.circuits[dst]++
	var once sync.Once
	return func() { once.Do(func() { l.closeCircuit(src, dst) }) }, nil
}

func (l *Limiter) closeCircuit(src, dst identity.PeerID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range []identity.PeerID{src, dst} {
		if l.circuits[p]--; l.circuits[p] <= 0 {
			delete(l.circuits, p)
		}
	}
}

// CircuitLimit is the limit for a new circuit; ok is false when circuits
// are unlimited (then no Limit goes on the wire).
func (l *Limiter) CircuitLimit() (lim Limit, ok bool) {
	if l.cfg.Unlimited {
		return Limit{}, false
	}
	return Limit{Duration: l.cfg.LimitDuration, Data: max(l.cfg.LimitData, 0)}, true
}
