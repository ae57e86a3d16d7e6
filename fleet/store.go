package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/reservation"
)

// Store is the reservation store of a fleet node: Redis, shared by every
// node, in front of a local copy of this node's own reservations. The
// copy is what keeps established reservations independent of Redis: a
// lookup Redis cannot answer (down, or it lost the entry) falls back to
// it, and it is what the node re-registers when Redis returns.
func (n *Node) Store() reservation.Store { return store{n} }

type store struct{ n *Node }

func (s store) Put(ctx context.Context, r reservation.Reservation) (bool, error) {
	refreshed, err := s.n.mirror.Put(ctx, r)
	if err != nil || !s.n.Up() {
		return refreshed, err
	}
	if w, ok := s.n.written(r.Peer); ok && w.Node == r.Node && w.Addr == r.Addr && absDur(w.Expire.Sub(r.Expire)) <= maxExpireSkew {
		return refreshed, nil // Quota.Reserve just wrote this record in its script
	}
	err = s.n.op(ctx, "put", func(ctx context.Context) (err error) {
		refreshed, err = s.n.redis.Put(ctx, r)
		return err
	})
	if err != nil && s.n.cfg.Unavailable == PolicyRefuse {
		s.n.mirror.Delete(context.Background(), r.Peer, r.Node)
		return false, err
	}
	return refreshed, nil // under PolicyLocal the next re-registration writes it
}

// Get answers from the local copy first: a CONNECT to one of this node's
// own reservations costs no Redis round trip. (The copy holds a peer only
// while it is connected here, so a peer that has since also reserved on
// another node is still served here, over its connection to this node.)
// Others come from Redis, with the holding node, or are absent while it
// is down.
func (s store) Get(ctx context.Context, peer identity.PeerID) (reservation.Reservation, error) {
	if r, err := s.n.mirror.Get(ctx, peer); err == nil || !s.n.Up() {
		return r, err
	}
	var r reservation.Reservation
	err := s.n.op(ctx, "get", func(ctx context.Context) (err error) {
		r, err = s.n.redis.Get(ctx, peer)
		return err
	})
	if err != nil && !errors.Is(err, reservation.ErrNotFound) && ctx.Err() == nil {
		return r, fmt.Errorf("%w (Redis unavailable: %v)", reservation.ErrNotFound, err)
	}
	return r, err
}

func (s store) Delete(ctx context.Context, peer identity.PeerID, node string) error {
	if err := s.n.mirror.Delete(ctx, peer, node); err != nil || !s.n.Up() {
		return err
	}
	return s.n.op(ctx, "delete", func(ctx context.Context) error { return s.n.redis.Delete(ctx, peer, node) })
}

// Sweep returns this node's reservations expired at now, from the local
// copy and from Redis.
func (s store) Sweep(ctx context.Context, now time.Time) ([]reservation.Reservation, error) {
	gone, err := s.n.mirror.Sweep(ctx, now)
	if err != nil || !s.n.Up() {
		return gone, err
	}
	var fromRedis []reservation.Reservation
	err = s.n.op(ctx, "sweep", func(ctx context.Context) (err error) {
		fromRedis, err = s.n.redis.Sweep(ctx, now)
		return err
	})
	seen := make(map[identity.PeerID]bool, len(gone))
	for _, r := range gone {
		seen[r.Peer] = true
	}
	for _, r := range fromRedis {
		if !seen[r.Peer] {
			gone = append(gone, r)
		}
	}
	if errors.Is(err, context.Canceled) {
		return gone, err
	}
	return gone, nil // Redis keeps expiring by itself; the next sweep catches up
}

// maxExpireSkew is how far the expiry Quota.Reserve wrote may be from the
// one the circuit service answered with (both are now + TTL in whole
// seconds, computed a moment apart) for Put to count the record as
// written.
const maxExpireSkew = 2 * time.Second

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
