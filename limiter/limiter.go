package limiter

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

// Peer is a requester as policy sees it: its ID and the IP it is connected
// from (the client's, behind a trusted PROXY-protocol load balancer). An
// invalid IP skips the per-IP checks.
type Peer struct {
	ID identity.PeerID
	IP netip.Addr
}

// Grant is what a request was allowed.
type Grant struct {
	// Class is the requester's class name.
	Class string
	// Limit is the circuit caps of the class; Limited false means none
	// go on the wire (the circuit is unlimited; Limit.Rate may still pace
	// it).
	Limit   Limit
	Limited bool
}

// Limiter applies a Config. It is safe for concurrent use.
type Limiter struct {
	now   func() time.Time
	trace Tracer

	mu  sync.Mutex
	pol *policy
	q   quotas
}

// New returns a limiter for cfg (defaults applied), or cfg's first
// invalid field.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("limiter: %w", err)
	}
	cfg = cfg.Defaults()
	return &Limiter{now: cfg.Now, trace: cfg.Tracer, pol: compile(cfg), q: newQuotas()}, nil
}

// Reload applies cfg to every request from now on; reservations and
// circuits already granted keep what they have, even above new quotas.
// Request-rate buckets start afresh. An invalid cfg changes nothing.
func (l *Limiter) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("limiter: %w", err)
	}
	cfg.Now, cfg.Tracer = l.now, l.trace
	pol := compile(cfg.Defaults())
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pol = pol
	return nil
}

// Config is the effective configuration.
func (l *Limiter) Config() Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pol.cfg
}

// Classes lists every class label the current config can produce.
func (l *Limiter) Classes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pol.cfg.ClassNames()
}

// ClassOf is p's class name under the current config, or "denied".
func (l *Limiter) ClassOf(p Peer) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pol.denied(p.ID, p.IP) {
		return DeniedClass
	}
	return l.pol.classOf(p.ID, p.IP).name
}

// CheckReserve applies the ACL and RESERVE rates to p. It returns p's
// class name either way.
func (l *Limiter) CheckReserve(p Peer) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pol.denied(p.ID, p.IP) {
		return l.refused(RequestReserve, DeniedClass, ErrDenied)
	}
	cl := l.pol.classOf(p.ID, p.IP)
	if !cl.allowReserve(p.ID, p.IP, l.now()) {
		return l.refused(RequestReserve, cl.name, ErrRate)
	}
	return cl.name, nil
}

// Reserve takes a slot for p, or keeps the one p holds (refreshed), under
// the reservation quotas.
func (l *Limiter) Reserve(p Peer) (g Grant, refreshed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cl := l.pol.classOf(p.ID, p.IP)
	g = grant(cl)
	refreshed, err = l.q.reserve(p.ID, p.IP, cl, l.pol.cfg.MaxReservations)
	if err != nil {
		_, err = l.refused(RequestReserve, cl.name, err)
		return g, false, err
	}
	l.trace.Decided(RequestReserve, cl.name, "ok")
	return g, refreshed, nil
}

func grant(cl *class) Grant {
	return Grant{Class: cl.name, Limit: cl.limit, Limited: cl.limited}
}

func (l *Limiter) refused(req Request, class string, err error) (string, error) {
	l.trace.Decided(req, class, Reason(err))
	return class, err
}

// Release frees p's slot and reports whether p held one.
func (l *Limiter) Release(p identity.PeerID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.q.release(p)
}

// Reservations is the number of slots held.
func (l *Limiter) Reservations() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.q.slots)
}

// CheckConnect applies the ACL to both ends and the CONNECT rates to src.
// It returns src's class name either way.
func (l *Limiter) CheckConnect(src Peer, dst identity.PeerID) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pol.denied(src.ID, src.IP) || l.pol.denied(dst, l.q.slots[dst].ip) {
		return l.refused(RequestConnect, DeniedClass, ErrDenied)
	}
	cl := l.pol.classOf(src.ID, src.IP)
	if !cl.allowConnect(src.ID, src.IP, l.now()) {
		return l.refused(RequestConnect, cl.name, ErrRate)
	}
	return cl.name, nil
}

// Circuit is one counted circuit. Its Grant comes from the class of the
// peer that asked for it (the CONNECT sender).
type Circuit struct {
	Grant
	l        *Limiter
	src, dst identity.PeerID
	once     sync.Once
}

// OpenCircuit counts a circuit from src to dst against the total and
// against each end's per-peer cap (each end's own class). Close it
// exactly once, when the circuit ends.
func (l *Limiter) OpenCircuit(src Peer, dst identity.PeerID) (*Circuit, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	scl := l.pol.classOf(src.ID, src.IP)
	dcl := l.pol.classOf(dst, l.q.slots[dst].ip)
	err := l.q.openCircuit(src.ID, dst, scl.circuitsPerPeer, dcl.circuitsPerPeer, l.pol.cfg.MaxCircuits, scl.name)
	if err != nil {
		_, err = l.refused(RequestConnect, scl.name, err)
		return nil, err
	}
	l.trace.Decided(RequestConnect, scl.name, "ok")
	return &Circuit{Grant: grant(scl), l: l, src: src.ID, dst: dst}, nil
}

// Close uncounts the circuit; later calls do nothing.
func (c *Circuit) Close() {
	c.once.Do(func() {
		c.l.mu.Lock()
		defer c.l.mu.Unlock()
		c.l.q.closeCircuit(c.src, c.dst, c.Class)
	})
}

// ClassCounts is what one class holds.
type ClassCounts struct {
	Reservations, Circuits int
}

// Counts is what each class holds now, by class name; classes holding
// nothing are absent.
func (l *Limiter) Counts() map[string]ClassCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]ClassCounts)
	for name, n := range l.q.reservedBy {
		c := out[name]
		c.Reservations = n
		out[name] = c
	}
	for name, n := range l.q.openBy {
		c := out[name]
		c.Circuits = n
		out[name] = c
	}
	return out
}
