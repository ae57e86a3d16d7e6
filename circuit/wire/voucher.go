package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// VoucherDomain is the signed-envelope domain of a reservation voucher.
const VoucherDomain = "libp2p-relay-rsvp"

// VoucherPayloadType returns the envelope payload type of a voucher: the two
// raw bytes of multicodec 0x0302, not its uvarint (82 06), as go and js
// send it. It returns a fresh slice each call so no caller can change it.
func VoucherPayloadType() []byte { return []byte{0x03, 0x02} }

// Voucher is the payload of the reservation voucher envelope.
type Voucher struct {
	Relay      []byte // relay peer ID
	Peer       []byte // reserving peer ID
	Expiration uint64 // Unix seconds, same value as Reservation.Expire
}

const (
	voucherRelay      protowire.Number = 1
	voucherPeer       protowire.Number = 2
	voucherExpiration protowire.Number = 3
)

// Append appends the voucher payload to b. All three fields are always
// written, in order, as go-libp2p does.
func (v Voucher) Append(b []byte) []byte {
	b = appendBytesField(b, voucherRelay, v.Relay)
	b = appendBytesField(b, voucherPeer, v.Peer)
	return appendVarintField(b, voucherExpiration, v.Expiration)
}

// ParseVoucher decodes a voucher payload. Absent fields stay zero; checking
// them against the reservation is the caller's job. Errors wrap ErrMalformed.
func ParseVoucher(b []byte) (Voucher, error) {
	var v Voucher
	if len(b) > MaxVoucherLen {
		return Voucher{}, fmt.Errorf("%w: voucher is %d bytes, max %d", ErrMalformed, len(b), MaxVoucherLen)
	}
	err := forEachField(b, func(f field) (err error) {
		switch f.num {
		case voucherRelay:
			v.Relay, err = f.bytesValue("voucher.relay", MaxPeerIDLen)
		case voucherPeer:
			v.Peer, err = f.bytesValue("voucher.peer", MaxPeerIDLen)
		case voucherExpiration:
			v.Expiration, err = f.uint64Value("voucher.expiration")
		}
		return err
	})
	if err != nil {
		return Voucher{}, fmt.Errorf("parsing voucher: %w", err)
	}
	return v, nil
}
