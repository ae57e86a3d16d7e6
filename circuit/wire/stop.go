package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// StopMessage is the message on the stop protocol, relay ↔ target.
type StopMessage struct {
	Type   StopType
	Peer   *Peer  // CONNECT: the initiator (source) of the circuit
	Limit  *Limit // CONNECT: limits of this circuit; nil = unlimited
	Status Status // STATUS; 0 = field absent
}

const (
	stopType   protowire.Number = 1
	stopPeer   protowire.Number = 2
	stopLimit  protowire.Number = 3
	stopStatus protowire.Number = 4
)

// Append appends the protobuf encoding of m (without length prefix) to b.
func (m *StopMessage) Append(b []byte) []byte {
	b = appendVarintField(b, stopType, uint64(m.Type))
	if m.Peer != nil {
		b = appendNested(b, stopPeer, m.Peer.appendBody)
	}
	if m.Limit != nil {
		b = appendNested(b, stopLimit, m.Limit.appendBody)
	}
	if m.Status != 0 {
		b = appendVarintField(b, stopStatus, uint64(m.Status))
	}
	return b
}

// ParseStop decodes a StopMessage body (without length prefix). Errors wrap
// ErrMalformed.
func ParseStop(b []byte) (StopMessage, error) {
	var m StopMessage
	if err := checkSize(b, "stop message"); err != nil {
		return StopMessage{}, err
	}
	err := forEachField(b, func(f field) error {
		var err error
		switch f.num {
		case stopType:
			var t uint32
			t, err = f.enumValue("stop type", uint32(StopStatus))
			m.Type = StopType(t)
		case stopPeer:
			m.Peer, err = mergePeer(m.Peer, f)
		case stopLimit:
			m.Limit, err = mergeLimit(m.Limit, f)
		case stopStatus:
			var s uint32
			s, err = f.uint32Value("stop status")
			m.Status = Status(s)
		}
		return err
	})
	if err != nil {
		return StopMessage{}, fmt.Errorf("parsing stop message: %w", err)
	}
	return m, nil
}
