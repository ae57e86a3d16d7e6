package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/reservation"
)

// Quota is the fleet's policy decision (it implements circuit.Quota):
// the node's own limiter for the ACL, request rates and circuits, with the
// reservation quotas (total, per IP, per subnet, one slot per peer)
// checked and taken in Redis in one script, across every node.
//
// Request rates stay per node on purpose: a token bucket in Redis would
// put a Redis round trip on every request, including the ones a flood
// sends to be refused, and rates are about sparing this node's work;
// behind a load balancer a client's requests spread over the nodes, so
// the fleet admits at most N times the per-node rate, which the quotas
// (shared) then bound anyway.
type Quota struct {
	*limiter.Limiter
	n *Node
}

// Quota returns the node's Quota.
func (n *Node) Quota() *Quota { return &Quota{Limiter: n.lim, n: n} }

// Reserve takes or refreshes p's slot under the fleet quotas. While Redis
// is down it follows the node's policy: refuse, or the node's own quotas.
func (q *Quota) Reserve(p limiter.Peer) (limiter.Grant, bool, error) {
	g, caps := q.Limiter.ReserveQuotas(p)
	if !q.n.Up() {
		return q.unavailable(p, g, nil)
	}
	r := reservation.Reservation{
		Peer: p.ID, Node: q.n.cfg.NodeID, Addr: p.IP,
		Expire: q.n.cfg.Now().Add(q.n.cfg.ReservationTTL).Truncate(time.Second),
	}
	var refreshed bool
	err := q.n.op(q.n.ctx, "reserve", func(ctx context.Context) (err error) {
		refreshed, err = q.n.redis.Reserve(ctx, r, reservation.Quota{Total: caps.Total, PerIP: caps.PerIP, PerSubnet: caps.PerSubnet})
		return err
	})
	switch {
	case errors.Is(err, reservation.ErrTotalQuota):
		return g, false, q.Refuse(limiter.RequestReserve, g.Class, fmt.Errorf("fleet: %w", limiter.ErrTotalQuota))
	case errors.Is(err, reservation.ErrIPQuota):
		return g, false, q.Refuse(limiter.RequestReserve, g.Class, fmt.Errorf("fleet: %w", limiter.ErrIPQuota))
	case errors.Is(err, reservation.ErrSubnetQuota):
		return g, false, q.Refuse(limiter.RequestReserve, g.Class, fmt.Errorf("fleet: %w", limiter.ErrSubnetQuota))
	case err != nil:
		return q.unavailable(p, g, err)
	}
	q.Limiter.Hold(p)
	q.n.wrote(r)
	return g, refreshed, nil
}

// unavailable decides a RESERVE that Redis cannot.
func (q *Quota) unavailable(p limiter.Peer, g limiter.Grant, err error) (limiter.Grant, bool, error) {
	if q.n.cfg.Unavailable == PolicyRefuse {
		return g, false, q.Refuse(limiter.RequestReserve, g.Class, fmt.Errorf("%w: %v", limiter.ErrFleetUnavailable, err))
	}
	return q.Limiter.Reserve(p)
}

// Release frees p's slot on this node and in Redis.
func (q *Quota) Release(p identity.PeerID) bool {
	q.n.written(p)
	held := q.Limiter.Release(p)
	if q.n.Up() {
		q.n.op(q.n.ctx, "delete", func(ctx context.Context) error { return q.n.redis.Delete(ctx, p, q.n.cfg.NodeID) })
	}
	return held
}
