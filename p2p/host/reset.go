package host

import (
	"errors"

	"github.com/hashicorp/yamux"
	quicgo "github.com/quic-go/quic-go"
)

// IsPeerReset reports whether err is a stream I/O error caused by the peer
// resetting the stream: yamux's RST, or QUIC's RESET_STREAM/STOP_SENDING
// sent by the other side. go-libp2p closes a relayed connection by
// resetting its circuit stream, so for a relay a reset is a peer hanging
// up on purpose, not a failure.
func IsPeerReset(err error) bool {
	if errors.Is(err, yamux.ErrConnectionReset) {
		return true
	}
	var se *quicgo.StreamError
	return errors.As(err, &se) && se.Remote
}
