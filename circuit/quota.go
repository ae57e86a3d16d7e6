package circuit

import (
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/identity"
)

// Quota is the policy decision the service asks for: ACL, request rates,
// reservation quotas and circuit counts. *limiter.Limiter is the one-node
// Quota; a fleet plugs in one whose reservation quotas hold across nodes.
type Quota interface {
	// ClassOf names p's class, for logs.
	ClassOf(p limiter.Peer) string
	// CheckReserve applies the ACL and RESERVE rates.
	CheckReserve(p limiter.Peer) (class string, err error)
	// Reserve takes (or keeps: refreshed) p's reservation slot.
	Reserve(p limiter.Peer) (g limiter.Grant, refreshed bool, err error)
	// Release frees p's slot and reports whether p held one.
	Release(p identity.PeerID) bool
	// CheckConnect applies the ACL to both ends and the CONNECT rates.
	CheckConnect(src limiter.Peer, dst identity.PeerID) (class string, err error)
	// OpenCircuit counts a circuit; the caller closes it once.
	OpenCircuit(src limiter.Peer, dst identity.PeerID) (*limiter.Circuit, error)
}

var _ Quota = (*limiter.Limiter)(nil)
