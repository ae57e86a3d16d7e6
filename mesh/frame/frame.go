package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/p2p/identity"
)

// Version is the mesh protocol version every Hello carries.
const Version = 1

// Size caps.
const (
	// MaxFrameSize caps a Connect or Status frame body (and a Hello).
	MaxFrameSize = 1024
	// MaxPeerIDSize caps a peer ID: an identity multihash of an Ed25519
	// key is 38 bytes, a SHA-256 one 34.
	MaxPeerIDSize = 128
	// MaxNodeIDSize caps a node ID (a Kubernetes pod name is at most 253).
	MaxNodeIDSize = 255
)

// ErrMalformed wraps every decoding error other than truncation.
var ErrMalformed = errors.New("mesh frame: malformed")

// Frame types: the first byte of a Connect or Status body.
const (
	typeConnect = 1
	typeStatus  = 2
)

// Hello is each side's Noise handshake payload.
type Hello struct {
	Version byte
	// Node is the sender's node ID.
	Node string
	// Want is, from the dialer, the node it meant to reach (the responder
	// refuses a Hello for another node); empty from the responder.
	Want string
}

// Append encodes h.
func (h Hello) Append(b []byte) []byte {
	b = append(b, h.Version)
	b = appendBytes(b, []byte(h.Node))
	return appendBytes(b, []byte(h.Want))
}

// ParseHello decodes a Hello at the start of b.
func ParseHello(b []byte) (Hello, int, error) {
	var h Hello
	if len(b) == 0 {
		return h, 0, io.EOF
	}
	h.Version = b[0]
	n := 1
	node, k, err := parseBytes(b[n:], MaxNodeIDSize, "node")
	if err != nil {
		return h, 0, err
	}
	n += k
	want, k, err := parseBytes(b[n:], MaxNodeIDSize, "want")
	if err != nil {
		return h, 0, err
	}
	h.Node, h.Want = string(node), string(want)
	return h, n + k, nil
}

// Connect opens a forwarded circuit: the first frame the entry node sends
// on a new mesh stream.
type Connect struct {
	Dst, Src identity.PeerID
	// Node is the entry node.
	Node string
	// Limit is what the entry node granted; nil: unlimited.
	Limit *wire.Limit
}

// Append encodes c.
func (c Connect) Append(b []byte) []byte {
	b = append(b, typeConnect)
	b = appendBytes(b, c.Dst.Bytes())
	b = appendBytes(b, c.Src.Bytes())
	b = appendBytes(b, []byte(c.Node))
	if c.Limit == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(c.Limit.Duration))
	return binary.AppendUvarint(b, c.Limit.Data)
}

// ParseConnect decodes a Connect at the start of b.
func ParseConnect(b []byte) (Connect, int, error) {
	var c Connect
	n, err := parseType(b, typeConnect)
	if err != nil {
		return c, 0, err
	}
	var ids [2]identity.PeerID
	for i, name := range []string{"dst", "src"} {
		raw, k, err := parseBytes(b[n:], MaxPeerIDSize, name)
		if err != nil {
			return c, 0, err
		}
		if ids[i], err = identity.IDFromBytes(raw); err != nil {
			return c, 0, fmt.Errorf("%w: %s peer: %v", ErrMalformed, name, err)
		}
		n += k
	}
	c.Dst, c.Src = ids[0], ids[1]
	node, k, err := parseBytes(b[n:], MaxNodeIDSize, "node")
	if err != nil {
		return c, 0, err
	}
	c.Node = string(node)
	n += k
	k, err = c.parseLimit(b[n:])
	if err != nil {
		return c, 0, err
	}
	return c, n + k, nil
}

func (c *Connect) parseLimit(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	switch b[0] {
	case 0:
		return 1, nil
	case 1:
	default:
		return 0, fmt.Errorf("%w: limit flag %d", ErrMalformed, b[0])
	}
	n := 1
	d, k, err := parseUvarint(b[n:])
	if err != nil {
		return 0, err
	}
	if d > math.MaxUint32 {
		return 0, fmt.Errorf("%w: limit duration %d", ErrMalformed, d)
	}
	n += k
	data, k, err := parseUvarint(b[n:])
	if err != nil {
		return 0, err
	}
	c.Limit = &wire.Limit{Duration: uint32(d), Data: data}
	return n + k, nil
}

// Status answers a Connect: the holding node's outcome of the stop
// exchange (wire.StatusOK, or the refusal's status).
type Status struct {
	Status wire.Status
}

// Append encodes s.
func (s Status) Append(b []byte) []byte {
	b = append(b, typeStatus)
	return binary.AppendUvarint(b, uint64(s.Status))
}

// ParseStatus decodes a Status at the start of b.
func ParseStatus(b []byte) (Status, int, error) {
	n, err := parseType(b, typeStatus)
	if err != nil {
		return Status{}, 0, err
	}
	v, k, err := parseUvarint(b[n:])
	if err != nil {
		return Status{}, 0, err
	}
	if v > math.MaxInt32 {
		return Status{}, 0, fmt.Errorf("%w: status %d", ErrMalformed, v)
	}
	return Status{Status: wire.Status(v)}, n + k, nil
}

func parseType(b []byte, want byte) (int, error) {
	if len(b) == 0 {
		return 0, io.EOF
	}
	if b[0] != want {
		return 0, fmt.Errorf("%w: frame type %d, want %d", ErrMalformed, b[0], want)
	}
	return 1, nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// parseBytes reads a uvarint length and that many bytes, refusing a length
// over max before looking at the body.
func parseBytes(b []byte, max int, name string) ([]byte, int, error) {
	l, n, err := parseUvarint(b)
	if err != nil {
		return nil, 0, err
	}
	if l > uint64(max) {
		return nil, 0, fmt.Errorf("%w: %s is %d bytes, at most %d", ErrMalformed, name, l, max)
	}
	if uint64(len(b)-n) < l {
		return nil, 0, io.ErrUnexpectedEOF
	}
	return b[n : n+int(l)], n + int(l), nil
}

func parseUvarint(b []byte) (uint64, int, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, io.ErrUnexpectedEOF
	case n < 0:
		return 0, 0, fmt.Errorf("%w: varint overflows 64 bits", ErrMalformed)
	}
	return v, n, nil
}
