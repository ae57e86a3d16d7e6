package limiter

import (
	"net/netip"

	"github.com/relayd/relayd/p2p/identity"
)

// quotas counts what is held: reservation slots (one per peer) by IP, by
// subnet and by class, and open circuits by peer and by class. Quotas
// compare these counts, never request counts, so a refresh or a reconnect
// of a peer that holds a slot never takes a second one. Not safe for
// concurrent use: the Limiter's mutex guards it.
type quotas struct {
	slots      map[identity.PeerID]slot
	perIP      map[netip.Prefix]int
	perSubnet  map[netip.Prefix]int
	reservedBy map[string]int

	circuits map[identity.PeerID]int
	open     int
	openBy   map[string]int
}

// slot is one peer's reservation as counted.
type slot struct {
	ip    netip.Addr
	class string
}

func newQuotas() quotas {
	return quotas{
		slots:      make(map[identity.PeerID]slot),
		perIP:      make(map[netip.Prefix]int),
		perSubnet:  make(map[netip.Prefix]int),
		reservedBy: make(map[string]int),
		circuits:   make(map[identity.PeerID]int),
		openBy:     make(map[string]int),
	}
}

// over reports whether n has reached a cap; a negative cap is none.
func over(n, cap int) bool { return cap >= 0 && n >= cap }

// reserve takes p's slot, or keeps the one it holds. A slot moves with the
// peer to a new IP only if the new IP and subnet have room; the total is
// checked only for a new slot. A held slot is never refused for quotas
// lowered since it was taken.
func (q *quotas) reserve(p identity.PeerID, ip netip.Addr, cl *class, total int) (refreshed bool, err error) {
	old, held := q.slots[p]
	if held && IPKey(old.ip) == IPKey(ip) {
		q.setClass(p, old, cl.name)
		return true, nil
	}
	if !held && over(len(q.slots), total) {
		return false, ErrTotalQuota
	}
	if k := IPKey(ip); k.IsValid() && over(q.perIP[k], cl.perIP) {
		return false, ErrIPQuota
	}
	sameSubnet := held && SubnetKey(old.ip) == SubnetKey(ip)
	if k := SubnetKey(ip); k.IsValid() && !sameSubnet && over(q.perSubnet[k], cl.perSubnet) {
		return false, ErrSubnetQuota
	}
	if held {
		q.release(p)
	}
	q.add(p, slot{ip: ip, class: cl.name})
	return held, nil
}

func (q *quotas) setClass(p identity.PeerID, s slot, name string) {
	if s.class == name {
		return
	}
	q.reservedBy[s.class]--
	q.reservedBy[name]++
	s.class = name
	q.slots[p] = s
}

func (q *quotas) add(p identity.PeerID, s slot) {
	q.slots[p] = s
	q.reservedBy[s.class]++
	if k := IPKey(s.ip); k.IsValid() {
		q.perIP[k]++
	}
	if k := SubnetKey(s.ip); k.IsValid() {
		q.perSubnet[k]++
	}
}

// release frees p's slot and reports whether it held one.
func (q *quotas) release(p identity.PeerID) bool {
	s, ok := q.slots[p]
	if !ok {
		return false
	}
	delete(q.slots, p)
	decr(q.reservedBy, s.class)
	decr(q.perIP, IPKey(s.ip))
	decr(q.perSubnet, SubnetKey(s.ip))
	return true
}

// decr lowers m[k] and drops the key at zero, so the maps only ever hold
// keys with something counted.
func decr[K comparable](m map[K]int, k K) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

// openCircuit counts a circuit against both ends and the total.
func (q *quotas) openCircuit(src, dst identity.PeerID, srcCap, dstCap, total int, class string) error {
	if over(q.open, total) {
		return ErrTotalCircuits
	}
	if over(q.circuits[src], srcCap) || over(q.circuits[dst], dstCap) {
		return ErrCircuitQuota
	}
	q.circuits[src]++
	q.circuits[dst]++
	q.open++
	q.openBy[class]++
	return nil
}

func (q *quotas) closeCircuit(src, dst identity.PeerID, class string) {
	decr(q.circuits, src)
	decr(q.circuits, dst)
	q.open--
	decr(q.openBy, class)
}
