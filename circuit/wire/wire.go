package wire

import "errors"

// Protocol IDs negotiated with multistream-select.
const (
	ProtoHop  = "/libp2p/circuit/relay/0.2.0/hop"
	ProtoStop = "/libp2p/circuit/relay/0.2.0/stop"
)

// Decoder limits; see the package doc.
const (
	MaxMessageSize = 4096
	MaxAddrs       = 64
	MaxAddrLen     = 1024
	MaxPeerIDLen   = 128
	MaxVoucherLen  = 2048
)

// ErrMalformed is returned for any message that cannot be decoded: bad
// protobuf wire data, wrong wire type, an exceeded limit or an unknown type.
// Truncated input additionally matches io.ErrUnexpectedEOF.
var ErrMalformed = errors.New("circuit/wire: malformed message")
