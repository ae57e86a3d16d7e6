package circuit

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
)

// Stream is one leg of a circuit as splice sees it: a stream to a peer on
// this node's host, or a mesh stream to the node that holds the other peer.
type Stream interface {
	io.Reader
	io.Writer
	// Close half-closes the write side; the other side may still send.
	Close() error
	// CloseRead tells the other side we read no more.
	CloseRead() error
	// Reset abandons the stream in both directions, and the other side
	// learns it was reset rather than closed.
	Reset() error
	SetDeadline(time.Time) error
}

// ErrStopSending is what a Stream's Write returns once the other side
// called CloseRead: that direction is over, the circuit is not failed.
var ErrStopSending = errors.New("circuit: the other side stopped reading")

// Forwarder carries a circuit to the fleet node that holds the target's
// reservation (package mesh implements it). Forward asks node to open the
// stop stream from src to dst with lim (nil: unlimited) and returns the
// stream to splice once node answered OK. A refusal by node is a
// *StatusError with node's status; any other error means node could not be
// reached. The node where CONNECT entered enforces lim; node does not.
type Forwarder interface {
	Forward(ctx context.Context, node string, src, dst identity.PeerID, lim *wire.Limit) (Stream, error)
}

// ForwardRequest is a circuit another fleet node forwards to this one,
// because this node holds Dst's connection.
type ForwardRequest struct {
	Src, Dst identity.PeerID
	// Limit is what the entry node granted; it goes to Dst in the stop
	// CONNECT, and the entry node enforces it. nil: unlimited.
	Limit *wire.Limit
	// Node is the entry node, for logs.
	Node string
}

// hostStream is a host stream as a circuit leg.
type hostStream struct{ *host.Stream }

// CloseRead uses the stream's own CloseRead where the host has one, and
// otherwise stops local reads.
func (s hostStream) CloseRead() error {
	if cr, ok := any(s.Stream).(interface{ CloseRead() error }); ok {
		return cr.CloseRead()
	}
	return s.Stream.SetReadDeadline(time.Unix(1, 0))
}
