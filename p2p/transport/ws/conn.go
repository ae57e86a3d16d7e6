package ws

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/p2p/transport"
)

// MaxMessageSize caps one WebSocket message: four Noise frames of 65537
// bytes (2-byte length + 65535). Messages are streamed, never buffered
// whole, so the cap costs no memory; it only refuses absurd messages.
const MaxMessageSize = 4 * (2 + 65535)

// closeGrace bounds sending our close frame before the socket is cut.
const closeGrace = 100 * time.Millisecond

// ErrTextMessage is the read error after the peer sent a text message.
var ErrTextMessage = errors.New("websocket: text message on a binary-only connection")

// Conn is a WebSocket as a net.Conn of binary messages.
type Conn struct {
	ws     *websocket.Conn
	bc     *boundaryConn // under ws on accepted connections; nil on dialed ones
	local  ma.Multiaddr
	remote ma.Multiaddr

	rmu  sync.Mutex
	r    io.Reader // current message; nil between messages
	rerr error     // sticky: gorilla cannot resume after a read error

	wmu sync.Mutex
	wdl atomic.Pointer[time.Time] // write deadline for the next Write

	closeOnce sync.Once
	closeErr  error
}

var _ transport.RawConn = (*Conn)(nil)

func newConn(wc *websocket.Conn, bc *boundaryConn, secure bool) (*Conn, error) {
	wc.SetReadLimit(MaxMessageSize)
	local, err := wsMultiaddr(wc.LocalAddr(), secure)
	if err != nil {
		return nil, err
	}
	remote, err := wsMultiaddr(wc.RemoteAddr(), secure)
	if err != nil {
		return nil, err
	}
	return &Conn{ws: wc, bc: bc, local: local, remote: remote}, nil
}

// wsMultiaddr is a TCP address as /ip*/<ip>/tcp/<port>/ws or /wss.
func wsMultiaddr(a net.Addr, secure bool) (ma.Multiaddr, error) {
	m, err := manet.FromNetAddr(a)
	if err != nil {
		return nil, err
	}
	return append(m, suffix(secure, "/")...), nil
}

func (c *Conn) LocalMultiaddr() ma.Multiaddr  { return c.local }
func (c *Conn) RemoteMultiaddr() ma.Multiaddr { return c.remote }
func (c *Conn) LocalAddr() net.Addr           { return c.ws.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr          { return c.ws.RemoteAddr() }

// Read reads the stream of binary messages as one byte stream.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for c.rerr == nil {
		if c.r == nil {
			if c.nextMessage() {
				return 0, os.ErrDeadlineExceeded
			}
			continue
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		if err != nil {
			c.rerr = readError(err)
		}
		return n, c.rerr
	}
	return 0, c.rerr
}

// nextMessage moves to the next message, or records why there is none.
// It reports an interruption (boundary.go): the read deadline passed
// between two messages; nothing is recorded and reading may go on.
func (c *Conn) nextMessage() (interrupted bool) {
	mt, r, err := c.ws.NextReader()
	switch {
	case err != nil:
		c.rerr = readError(err)
	case mt != websocket.BinaryMessage:
		c.rerr = ErrTextMessage
		c.closeWith(websocket.CloseUnsupportedData, "binary messages only")
	case c.bc != nil && c.bc.takeInterruption():
		return true
	default:
		c.r = r
	}
	return false
}

// WaitReadable waits, without reading, until the peer sends something or
// the read deadline passes (transport.ReadWaiter); the wait runs on a
// small stack, where a Read runs through gorilla. It returns nil at once
// unless the connection is between two messages with nothing buffered,
// which holds right after a read timeout.
func (c *Conn) WaitReadable() error {
	if c.bc == nil {
		return nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.r != nil || c.rerr != nil {
		return nil
	}
	return c.bc.waitReadable()
}

// ResumesAfterReadTimeout: an accepted connection's reads can be cut by a
// read deadline and go on afterwards (boundary.go); a dialed one's cannot.
func (c *Conn) ResumesAfterReadTimeout() bool { return c.bc != nil }

// readError maps a normal close to io.EOF.
func readError(err error) error {
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived) {
		return io.EOF
	}
	return err
}

// maxWriteMessage is the most one Write puts in a message: one Noise
// frame, so a peer's read limit matched to Noise frames always holds.
const maxWriteMessage = 2 + 65535

// Write sends p as one binary message (several if p is over a Noise
// frame, which the Noise layer above never writes).
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var dl time.Time
	if t := c.wdl.Load(); t != nil {
		dl = *t
	}
	c.ws.SetWriteDeadline(dl)
	n := 0
	for len(p) > 0 {
		m := p[:min(len(p), maxWriteMessage)]
		if err := c.ws.WriteMessage(websocket.BinaryMessage, m); err != nil {
			return n, err
		}
		n += len(m)
		p = p[len(m):]
	}
	return n, nil
}

// Close sends a normal close frame (best effort, briefly) and closes the
// socket. Safe to call more than once and concurrently with Read/Write.
func (c *Conn) Close() error {
	return c.closeWith(websocket.CloseNormalClosure, "")
}

func (c *Conn) closeWith(code int, text string) error {
	c.closeOnce.Do(func() {
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(closeGrace))
		c.closeErr = c.ws.Close()
	})
	return c.closeErr
}

func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline applies to the next Write and, through the socket, to
// one in progress, without waiting for it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.Store(&t)
	return c.ws.NetConn().SetWriteDeadline(t)
}
