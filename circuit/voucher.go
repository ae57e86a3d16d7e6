package circuit

import (
	"time"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/p2p/identity"
)

// voucher is the signed envelope (domain libp2p-relay-rsvp) that proves the
// relay granted p a reservation until expire. go-libp2p verifies it when
// present, so it must be exact.
func (s *Service) voucher(p identity.PeerID, expire time.Time) []byte {
	v := wire.Voucher{Relay: s.host.ID().Bytes(), Peer: p.Bytes(), Expiration: uint64(expire.Unix())}
	return identity.Seal(s.cfg.Key, wire.VoucherDomain, wire.VoucherPayloadType(), v.Append(nil))
}
