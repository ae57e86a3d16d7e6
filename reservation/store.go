package reservation

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

// ErrNotFound means the peer holds no live reservation.
var ErrNotFound = errors.New("no reservation")

// Reservation is one peer's slot on the relay.
type Reservation struct {
	Peer   identity.PeerID
	Node   string     // the relay node holding the peer's connection
	Expire time.Time  // absent from Get once reached
	Addr   netip.Addr // the IP the peer reserved from
}

// Store records reservations. Implementations are safe for concurrent use.
// A method called with a done context returns its error (wrapped) and
// changes nothing.
type Store interface {
	// Put creates r, or replaces the peer's existing reservation (a
	// refresh, reported as true): one slot per peer.
	Put(ctx context.Context, r Reservation) (refreshed bool, err error)
	// Get returns the peer's live reservation, or ErrNotFound.
	Get(ctx context.Context, peer identity.PeerID) (Reservation, error)
	// Delete removes the peer's reservation if node holds it, so a node
	// never drops a slot another node has since taken over.
	Delete(ctx context.Context, peer identity.PeerID, node string) error
	// Sweep removes reservations expired at now and returns them, so the
	// holding node can release what it keeps for them. Expiry itself never
	// waits for a sweep: an expired reservation is absent from Get, and a
	// shared store stops counting it, at once. A store shared by a fleet
	// (Redis) sweeps and returns only its own node's reservations; each
	// node sweeps its own.
	Sweep(ctx context.Context, now time.Time) ([]Reservation, error)
}
