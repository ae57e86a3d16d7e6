package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// HopMessage is the message on the hop protocol, client ↔ relay.
type HopMessage struct {
	Type        HopType
	Peer        *Peer        // CONNECT: the target
	Reservation *Reservation // STATUS OK to RESERVE
	Limit       *Limit       // STATUS OK; nil = unlimited
	Status      Status       // STATUS; 0 = field absent
}

const (
	hopType        protowire.Number = 1
	hopPeer        protowire.Number = 2
	hopReservation protowire.Number = 3
	hopLimit       protowire.Number = 4
	hopStatus      protowire.Number = 5
)

// Append appends the protobuf encoding of m (without length prefix) to b.
func (m *HopMessage) Append(b []byte) []byte {
	b = appendVarintField(b, hopType, uint64(m.Type))
	if m.Peer != nil {
		b = appendNested(b, hopPeer, m.Peer.appendBody)
	}
	if m.Reservation != nil {
		b = appendNested(b, hopReservation, m.Reservation.appendBody)
	}
	if m.Limit != nil {
		b = appendNested(b, hopLimit, m.Limit.appendBody)
	}
	if m.Status != 0 {
		b = appendVarintField(b, hopStatus, uint64(m.Status))
	}
	return b
}

// ParseHop decodes a HopMessage body (without length prefix). Errors wrap
// ErrMalformed.
func ParseHop(b []byte) (HopMessage, error) {
	var m HopMessage
	if err := checkSize(b, "hop message"); err != nil {
		return HopMessage{}, err
	}
	err := forEachField(b, func(f field) error {
		var err error
		switch f.num {
		case hopType:
			var t uint32
			t, err = f.enumValue("hop type", uint32(HopStatus))
			m.Type = HopType(t)
		case hopPeer:
			m.Peer, err = mergePeer(m.Peer, f)
		case hopReservation:
			m.Reservation, err = mergeReservation(m.Reservation, f)
		case hopLimit:
			m.Limit, err = mergeLimit(m.Limit, f)
		case hopStatus:
			var s uint32
			s, err = f.uint32Value("hop status")
			m.Status = Status(s)
		}
		return err
	})
	if err != nil {
		return HopMessage{}, fmt.Errorf("parsing hop message: %w", err)
	}
	return m, nil
}
