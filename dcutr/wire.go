package dcutr

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ID is the DCUtR protocol ID.
const ID = "/libp2p/dcutr"

// Size caps. go-libp2p refuses messages over 4 KiB; addresses beyond
// MaxAddrs are refused rather than truncated, so a peer learns its message
// was too large.
const (
	MaxMessageSize = 4096
	MaxAddrs       = 32
	MaxAddrLen     = 256
)

// Type is HolePunch.Type (proto2, required).
type Type uint32

// Message types.
const (
	TypeConnect Type = 100
	TypeSync    Type = 300
)

func (t Type) String() string {
	switch t {
	case TypeConnect:
		return "CONNECT"
	case TypeSync:
		return "SYNC"
	}
	return fmt.Sprintf("Type(%d)", uint32(t))
}

// ErrMalformed wraps every decoding failure.
var ErrMalformed = errors.New("dcutr: malformed message")

// Message is one HolePunch message: field 1 type, field 2 repeated ObsAddrs
// (binary multiaddrs, kept as bytes: the codec does not judge addresses).
type Message struct {
	Type     Type
	ObsAddrs [][]byte
}

// Append encodes m after b. It does not enforce the caps: Check does.
func (m *Message) Append(b []byte) []byte {
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(m.Type))
	for _, a := range m.ObsAddrs {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	return b
}

// Check reports whether m is within the caps and has a known type.
func (m *Message) Check() error {
	if m.Type != TypeConnect && m.Type != TypeSync {
		return fmt.Errorf("%w: unknown type %d", ErrMalformed, uint32(m.Type))
	}
	if len(m.ObsAddrs) > MaxAddrs {
		return fmt.Errorf("%w: %d addresses, at most %d", ErrMalformed, len(m.ObsAddrs), MaxAddrs)
	}
	for _, a := range m.ObsAddrs {
		if len(a) == 0 || len(a) > MaxAddrLen {
			return fmt.Errorf("%w: address of %d bytes", ErrMalformed, len(a))
		}
	}
	if n := len(m.Append(nil)); n > MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, n, MaxMessageSize)
	}
	return nil
}

// Parse decodes one message body (without its length prefix). Unknown
// fields are skipped; a missing type, an unknown type or a message over the
// caps is refused.
func Parse(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxMessageSize {
		return m, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), MaxMessageSize)
	}
	haveType := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Message{}, fmt.Errorf("%w: tag: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return Message{}, fmt.Errorf("%w: type: %w", ErrMalformed, protowire.ParseError(n))
			}
			if v > 1<<32-1 {
				return Message{}, fmt.Errorf("%w: type %d overflows", ErrMalformed, v)
			}
			m.Type, haveType = Type(v), true
			b = b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return Message{}, fmt.Errorf("%w: ObsAddrs: %w", ErrMalformed, protowire.ParseError(n))
			}
			m.ObsAddrs = append(m.ObsAddrs, append([]byte(nil), v...))
			b = b[n:]
		case num == 1 || num == 2:
			return Message{}, fmt.Errorf("%w: field %d has wire type %d", ErrMalformed, num, typ)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return Message{}, fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if !haveType {
		return Message{}, fmt.Errorf("%w: no type", ErrMalformed)
	}
	return m, m.Check()
}
