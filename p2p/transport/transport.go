package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/identity"
)

// ErrUnsupported is returned when no transport handles a multiaddr.
var ErrUnsupported = errors.New("no transport handles this address")

// Transport listens on and dials the multiaddrs it Handles.
type Transport interface {
	// Handles reports whether addr (without /p2p) is this transport's.
	Handles(addr ma.Multiaddr) bool
	// Listen binds addr. The listener's Multiaddr has port 0 resolved.
	Listen(addr ma.Multiaddr, cfg ListenConfig) (Listener, error)
	// Dial connects to addr. A SecureConn result has already checked that
	// the peer is remote (an empty remote accepts any peer); a RawConn
	// result is checked by the host's upgrade.
	Dial(ctx context.Context, addr ma.Multiaddr, remote identity.PeerID) (Conn, error)
	// Close releases what the transport holds beyond its listeners (QUIC
	// sockets shared by live connections). The host calls it last.
	Close() error
}

// Listener accepts connections of one transport on one address.
type Listener interface {
	// Accept returns the next connection: a RawConn or a SecureConn. An
	// error wrapping net.ErrClosed means the listener is closed.
	Accept() (Conn, error)
	// Multiaddr is the bound address.
	Multiaddr() ma.Multiaddr
	// Close stops accepting. Established connections stay up.
	Close() error
}

// ListenConfig is what the host gives every listener.
type ListenConfig struct {
	// HandshakeTimeout bounds a connection from its first byte until the
	// host has an authenticated, multiplexed connection.
	HandshakeTimeout time.Duration
	// MaxHandshakes caps this listener's handshakes in flight; more
	// connections are refused at once.
	MaxHandshakes int
	// Tracer receives refusals and handshake failures. Never nil.
	Tracer Tracer
	// Logger receives the listener's logs. Never nil.
	Logger *slog.Logger
	// WrapListener, when set, wraps the listener's TCP socket listener
	// before anything reads from its connections: the host uses it for
	// the PROXY protocol on WebSocket listeners, whose header comes before
	// TLS and HTTP. Transports that own no TCP listener ignore it.
	WrapListener func(net.Listener) net.Listener
}

// Tracer is the part of the host's tracer a listener reports to.
type Tracer interface {
	ConnRefused(transport, reason string)
	HandshakeFailed(transport, stage string)
}

// Conn is a RawConn or a SecureConn.
type Conn interface {
	LocalMultiaddr() ma.Multiaddr
	// RemoteMultiaddr is the peer's address as seen here, in the
	// transport's form (identify's observedAddr).
	RemoteMultiaddr() ma.Multiaddr
	Close() error
}

// RawConn is a byte stream that still needs the libp2p upgrade.
type RawConn interface {
	net.Conn
	LocalMultiaddr() ma.Multiaddr
	RemoteMultiaddr() ma.Multiaddr
}

// ReadResumer is a RawConn that is not plain TCP but whose reads, once cut
// short by a read deadline, can go on afterwards: an accepted WebSocket
// (package ws). The host parks idle connections only where reads resume:
// TCP's, and those whose ResumesAfterReadTimeout is true.
type ReadResumer interface {
	ResumesAfterReadTimeout() bool
}

// ReadWaiter is a RawConn that can wait, without reading and on a small
// stack, until its peer has sent something. The host's parked reader
// waits there first: a parked connection waits long, and the stack it
// waits on is memory for as long. WaitReadable returns nil at once when
// it cannot tell (the caller then reads as usual), and a timeout error
// when the read deadline passes.
type ReadWaiter interface {
	WaitReadable() error
}

// Muxed is an authenticated, multiplexed connection.
type Muxed interface {
	// OpenStream opens a stream; ctx bounds waiting for the peer's stream
	// credit.
	OpenStream(ctx context.Context) (Stream, error)
	// AcceptStream waits for the peer's next stream.
	AcceptStream() (Stream, error)
	Close() error
	// Done is closed when the connection is gone.
	Done() <-chan struct{}
}

// SecureConn is a connection the transport authenticated and multiplexed.
type SecureConn interface {
	Muxed
	LocalMultiaddr() ma.Multiaddr
	RemoteMultiaddr() ma.Multiaddr
	RemotePeer() identity.PeerID
	RemotePublicKey() identity.PublicKey
	// HandshakeStarted is when the peer's first packet arrived (or the
	// dial began), so the host can report the full handshake time.
	HandshakeStarted() time.Time
}

// Stream is one stream of a multiplexed connection. Close half-closes the
// write side (the peer may still send); CloseRead stops reading, so the
// peer's further writes fail (QUIC: STOP_SENDING; the host documents what
// yamux does); Reset abandons both directions at once.
type Stream interface {
	io.Reader
	io.Writer
	Close() error
	CloseRead() error
	Reset() error
	SetDeadline(time.Time) error
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// Label names addr's transport for metrics and logs: "quic", "wss", "ws"
// or "tcp" ("" if none of these).
func Label(addr ma.Multiaddr) string {
	label, tls := "", false
	for _, c := range addr {
		switch c.Code() {
		case ma.P_QUIC_V1:
			return "quic"
		case ma.P_WSS:
			return "wss"
		case ma.P_TLS:
			tls = true // /tls/ws, /tls/sni/<host>/ws
		case ma.P_WS:
			if tls {
				return "wss"
			}
			return "ws"
		case ma.P_TCP:
			label = "tcp"
		}
	}
	return label
}
