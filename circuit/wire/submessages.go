package wire

import "google.golang.org/protobuf/encoding/protowire"

// Limit is the circuit limit the relay imposes. A zero field means no limit
// in that dimension; a nil *Limit in a message means an unlimited circuit.
type Limit struct {
	Duration uint32 // seconds
	Data     uint64 // bytes, per direction
}

// Peer identifies a peer: its binary peer ID (a multihash) and, only for the
// deprecated active relay, binary multiaddrs.
type Peer struct {
	ID    []byte
	Addrs [][]byte
}

// Reservation is the relay's answer to a successful RESERVE.
type Reservation struct {
	Expire  uint64   // Unix seconds, UTC
	Addrs   [][]byte // binary relay multiaddrs ending in /p2p/<relay>
	Voucher []byte   // signed envelope (see Voucher), optional
}

// Field numbers of the submessages.
const (
	limitDuration protowire.Number = 1
	limitData     protowire.Number = 2

	peerID    protowire.Number = 1
	peerAddrs protowire.Number = 2

	rsvpExpire  protowire.Number = 1
	rsvpAddrs   protowire.Number = 2
	rsvpVoucher protowire.Number = 3
)

func (l *Limit) appendBody(b []byte) []byte {
	if l.Duration != 0 {
		b = appendVarintField(b, limitDuration, uint64(l.Duration))
	}
	if l.Data != 0 {
		b = appendVarintField(b, limitData, l.Data)
	}
	return b
}

// mergeLimit decodes a Limit into dst (allocated if nil): a repeated
// submessage field merges into the earlier one, as protobuf specifies.
func mergeLimit(dst *Limit, f field) (*Limit, error) {
	if f.typ != protowire.BytesType {
		return nil, f.wrongType("limit")
	}
	if dst == nil {
		dst = new(Limit)
	}
	err := forEachField(f.bytes, func(f field) (err error) {
		switch f.num {
		case limitDuration:
			dst.Duration, err = f.uint32Value("limit.duration")
		case limitData:
			dst.Data, err = f.uint64Value("limit.data")
		}
		return err
	})
	return dst, err
}

func (p *Peer) appendBody(b []byte) []byte {
	if len(p.ID) > 0 {
		b = appendBytesField(b, peerID, p.ID)
	}
	for _, a := range p.Addrs {
		b = appendBytesField(b, peerAddrs, a)
	}
	return b
}

func mergePeer(dst *Peer, f field) (*Peer, error) {
	if f.typ != protowire.BytesType {
		return nil, f.wrongType("peer")
	}
	if dst == nil {
		dst = new(Peer)
	}
	err := forEachField(f.bytes, func(f field) (err error) {
		switch f.num {
		case peerID:
			dst.ID, err = f.bytesValue("peer.id", MaxPeerIDLen)
		case peerAddrs:
			dst.Addrs, err = f.appendAddr(dst.Addrs, "peer.addrs")
		}
		return err
	})
	return dst, err
}

func (r *Reservation) appendBody(b []byte) []byte {
	if r.Expire != 0 {
		b = appendVarintField(b, rsvpExpire, r.Expire)
	}
	for _, a := range r.Addrs {
		b = appendBytesField(b, rsvpAddrs, a)
	}
	if len(r.Voucher) > 0 {
		b = appendBytesField(b, rsvpVoucher, r.Voucher)
	}
	return b
}

func mergeReservation(dst *Reservation, f field) (*Reservation, error) {
	if f.typ != protowire.BytesType {
		return nil, f.wrongType("reservation")
	}
	if dst == nil {
		dst = new(Reservation)
	}
	err := forEachField(f.bytes, func(f field) (err error) {
		switch f.num {
		case rsvpExpire:
			dst.Expire, err = f.uint64Value("reservation.expire")
		case rsvpAddrs:
			dst.Addrs, err = f.appendAddr(dst.Addrs, "reservation.addrs")
		case rsvpVoucher:
			dst.Voucher, err = f.bytesValue("reservation.voucher", MaxVoucherLen)
		}
		return err
	})
	return dst, err
}
