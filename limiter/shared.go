package limiter

// Quotas are the reservation caps a peer is held to; negative is no cap.
type Quotas struct {
	Total, PerIP, PerSubnet int
}

// ReserveQuotas returns the grant p's class gets and the reservation caps
// that hold p under the current policy, for a fleet that checks them
// against counts shared by every node (the node's own counts would let N
// nodes take N times the quota).
func (l *Limiter) ReserveQuotas(p Peer) (Grant, Quotas) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cl := l.pol.classOf(p.ID, p.IP)
	return grant(cl), Quotas{Total: l.pol.cfg.MaxReservations, PerIP: cl.perIP, PerSubnet: cl.perSubnet}
}

// Hold records p's slot as Reserve does, but without checking the quotas:
// the fleet's shared store checked them (ReserveQuotas) atomically with
// its write. It reports whether p held a slot already, and counts an "ok"
// decision.
func (l *Limiter) Hold(p Peer) (refreshed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cl := l.pol.classOf(p.ID, p.IP)
	old, held := l.q.slots[p.ID]
	if held && IPKey(old.ip) == IPKey(p.IP) {
		l.q.setClass(p.ID, old, cl.name)
	} else {
		if held {
			l.q.release(p.ID)
		}
		l.q.add(p.ID, slot{ip: p.IP, class: cl.name})
	}
	l.trace.Decided(RequestReserve, cl.name, "ok")
	return held
}

// Refuse counts a refusal decided outside the limiter (a fleet quota) and
// returns err.
func (l *Limiter) Refuse(req Request, class string, err error) error {
	_, err = l.refused(req, class, err)
	return err
}
