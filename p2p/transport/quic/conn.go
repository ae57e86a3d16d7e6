package quic

import (
	"context"
	"errors"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	quicgo "github.com/quic-go/quic-go"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport"
)

// conn is an established QUIC connection as the host sees it.
type conn struct {
	qc      *quicgo.Conn
	peer    identity.PeerID
	key     identity.PublicKey
	local   ma.Multiaddr
	remote  ma.Multiaddr
	started time.Time
}

var _ transport.SecureConn = (*conn)(nil)

func newConn(qc *quicgo.Conn, key identity.PublicKey, started time.Time) (*conn, error) {
	if key == nil {
		return nil, errors.New("quic: handshake finished without a verified peer key")
	}
	local, err := quicMultiaddr(qc.LocalAddr())
	if err != nil {
		return nil, err
	}
	remote, err := quicMultiaddr(qc.RemoteAddr())
	if err != nil {
		return nil, err
	}
	return &conn{
		qc:      qc,
		peer:    identity.IDFromPublicKey(key),
		key:     key,
		local:   local,
		remote:  remote,
		started: started,
	}, nil
}

func (c *conn) LocalMultiaddr() ma.Multiaddr        { return c.local }
func (c *conn) RemoteMultiaddr() ma.Multiaddr       { return c.remote }
func (c *conn) RemotePeer() identity.PeerID         { return c.peer }
func (c *conn) RemotePublicKey() identity.PublicKey { return c.key }
func (c *conn) HandshakeStarted() time.Time         { return c.started }
func (c *conn) Done() <-chan struct{}               { return c.qc.Context().Done() }
func (c *conn) Close() error                        { return c.qc.CloseWithError(0, "") }

func (c *conn) OpenStream(ctx context.Context) (transport.Stream, error) {
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return stream{s}, nil
}

func (c *conn) AcceptStream() (transport.Stream, error) {
	s, err := c.qc.AcceptStream(context.Background())
	if err != nil {
		return nil, err
	}
	return stream{s}, nil
}

// stream is a QUIC stream: Close sends FIN (our write side only), CloseRead
// sends STOP_SENDING (our read side only), Reset abandons both directions
// (RESET_STREAM and STOP_SENDING).
type stream struct {
	*quicgo.Stream
}

// resetCode is the stream error code of a reset, as go-libp2p sends it.
const resetCode quicgo.StreamErrorCode = 0

// CloseRead stops reading: STOP_SENDING tells the peer, whose further
// writes then fail, and what arrives is discarded.
func (s stream) CloseRead() error {
	s.Stream.CancelRead(resetCode)
	return nil
}

func (s stream) Reset() error {
	s.Stream.CancelRead(resetCode)
	s.Stream.CancelWrite(resetCode)
	return nil
}
