package identity

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the libp2p PublicKey and PrivateKey messages.
const (
	keyFieldType protowire.Number = 1
	keyFieldData protowire.Number = 2
)

// keyMessage is the libp2p PublicKey / PrivateKey protobuf {1 Type, 2 Data}.
type keyMessage struct {
	typ  KeyType
	data []byte // aliases the input
}

var (
	errDuplicateField = errors.New("duplicate field")
	errUnknownField   = errors.New("unexpected field")
)

// parseKeyMessage decodes a key message. The spec forbids extra fields and
// requires both, so anything else is rejected rather than skipped: a peer ID
// must not have two encodings of one key.
func parseKeyMessage(b []byte) (keyMessage, error) {
	var m keyMessage
	var seenType, seenData bool
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return m, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == keyFieldType && typ == protowire.VarintType && !seenType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return m, protowire.ParseError(n)
			}
			if v > math.MaxInt32 {
				return m, fmt.Errorf("key type %d out of range", v)
			}
			m.typ, seenType, b = KeyType(v), true, b[n:]
		case num == keyFieldData && typ == protowire.BytesType && !seenData:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return m, protowire.ParseError(n)
			}
			m.data, seenData, b = v, true, b[n:]
		case num == keyFieldType && seenType, num == keyFieldData && seenData:
			return m, fmt.Errorf("%w %d", errDuplicateField, num)
		default:
			return m, fmt.Errorf("%w %d (wire type %d)", errUnknownField, num, typ)
		}
	}
	if !seenType || !seenData {
		return m, fmt.Errorf("missing Type or Data field")
	}
	return m, nil
}

// appendKeyMessage appends the deterministic encoding the spec requires:
// minimal varints, tag order, both fields always present.
func appendKeyMessage(b []byte, t KeyType, data []byte) []byte {
	b = protowire.AppendTag(b, keyFieldType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t))
	b = protowire.AppendTag(b, keyFieldData, protowire.BytesType)
	return protowire.AppendBytes(b, data)
}
