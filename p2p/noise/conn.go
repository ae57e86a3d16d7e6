package noise

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/flynn/noise"

	"github.com/relayd/relayd/p2p/identity"
)

// Frame sizes: a Noise message is at most 65535 bytes, 16 of them the AEAD
// tag. A pooled buffer holds a full frame with its length prefix.
const (
	maxFrame     = noise.MaxMsgLen
	tagSize      = 16
	maxPlaintext = maxFrame - tagSize
	frameBufSize = 2 + maxFrame
)

// framePool shares frame buffers among all Conns, so memory follows the
// number of frames in flight rather than the number of connections. It is a
// cache, not state: any buffer may be dropped at any time.
var framePool = sync.Pool{New: func() any {
	b := make([]byte, frameBufSize)
	return &b
}}

func getFrameBuf() *[]byte  { return framePool.Get().(*[]byte) }
func putFrameBuf(b *[]byte) { framePool.Put(b) }

// Conn is an established Noise session. It implements net.Conn; one Read and
// one Write may run concurrently.
type Conn struct {
	conn       net.Conn
	remotePeer identity.PeerID
	remoteKey  identity.PublicKey
	muxer      string

	rmu    sync.Mutex
	dec    *noise.CipherState
	rhdr   [2]byte
	rhdrN  int     // bytes of rhdr read so far
	rbuf   *[]byte // pooled; held only mid-frame or while rpt is not empty
	rbodyN int     // bytes read into rbuf so far (ciphertext, then 0–2 of the next length)
	rpt    []byte  // decrypted plaintext not yet delivered (inside rbuf)
	rerr   error   // sticky read error

	wmu  sync.Mutex
	enc  *noise.CipherState
	werr error // sticky write error
}

var _ net.Conn = (*Conn)(nil)

func newConn(c net.Conn, enc, dec *noise.CipherState, peer identity.PeerID, key identity.PublicKey, muxer string) *Conn {
	return &Conn{conn: c, enc: enc, dec: dec, remotePeer: peer, remoteKey: key, muxer: muxer}
}

// NewSessionConn frames and encrypts c with the cipher states of a Noise
// handshake run elsewhere (the fleet mesh's pre-shared-key handshake): enc
// encrypts what this side sends, dec decrypts what it receives. The
// connection carries no libp2p identity (RemotePeer is empty).
func NewSessionConn(c net.Conn, enc, dec *noise.CipherState) *Conn {
	return newConn(c, enc, dec, "", nil, "")
}

// RemotePeer is the authenticated peer ID of the other side.
func (c *Conn) RemotePeer() identity.PeerID { return c.remotePeer }

// RemotePublicKey is the other side's identity key.
func (c *Conn) RemotePublicKey() identity.PublicKey { return c.remoteKey }

// Muxer is the inlined-negotiated stream muxer, or "" if none was agreed.
func (c *Conn) Muxer() string { return c.muxer }

// Read returns decrypted bytes, at most one frame's worth per call.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.rpt) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if len(p) == 0 {
			return 0, nil
		}
		if err := c.readFrame(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.rpt)
	c.rpt = c.rpt[n:]
	if len(c.rpt) == 0 {
		c.releaseReadBuf()
	}
	return n, nil
}

// Buffered is how many decrypted bytes Read can return without reading
// the underlying connection.
func (c *Conn) Buffered() int {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return len(c.rpt)
}

// readFrame reads and decrypts frames until one carries plaintext (empty
// frames are legal and skipped).
func (c *Conn) readFrame() error {
	for len(c.rpt) == 0 {
		n, err := c.fill()
		if err != nil {
			return c.readFailed(err)
		}
		frame := (*c.rbuf)[:n]
		// Whatever fill read past the frame is the next frame's length.
		c.rhdrN = copy(c.rhdr[:], (*c.rbuf)[n:c.rbodyN])
		c.rbodyN = 0
		pt, err := c.dec.Decrypt(frame[:0], nil, frame)
		if err != nil {
			c.releaseReadBuf()
			c.rerr = fmt.Errorf("noise: decrypting frame: %w", err)
			return c.rerr
		}
		c.rpt = pt
		if len(pt) == 0 {
			c.releaseReadBuf()
		}
	}
	return nil
}

// fill reads the rest of the current frame, resuming wherever an earlier
// timed-out call stopped, and returns its ciphertext length. The pooled
// buffer is taken only once a length has arrived, so a Conn blocked waiting
// for data holds none.
//
// Each read asks for the next frame's 2-byte length too (the buffer has
// room for it after the largest frame): while bytes stream in, the next
// length is usually there already, and a frame costs one read syscall
// instead of two. fill returns as soon as the frame is complete; the
// (0–2) bytes beyond it are in (*c.rbuf)[n:c.rbodyN].
func (c *Conn) fill() (int, error) {
	if err := c.readAtLeast(c.rhdr[:], len(c.rhdr), &c.rhdrN); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(c.rhdr[:]))
	if c.rbuf == nil {
		c.rbuf = getFrameBuf()
	}
	return n, c.readAtLeast((*c.rbuf)[:n+len(c.rhdr)], n, &c.rbodyN)
}

// readAtLeast reads into dst[*got:] until at least need bytes of dst are
// filled, counting progress in got. It may fill more, up to len(dst).
func (c *Conn) readAtLeast(dst []byte, need int, got *int) error {
	for *got < need {
		n, err := c.conn.Read(dst[*got:])
		*got += n
		if err != nil && *got < need {
			return err
		}
	}
	return nil
}

// readFailed keeps partial progress on a timeout, so Read can be retried
// after the deadline is extended; any other error ends the stream.
func (c *Conn) readFailed(err error) error {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return err
	}
	if err == io.EOF && c.rhdrN > 0 {
		err = io.ErrUnexpectedEOF
	}
	c.rerr = err
	c.releaseReadBuf()
	c.rhdrN, c.rbodyN = 0, 0
	return err
}

func (c *Conn) releaseReadBuf() {
	if c.rbuf != nil {
		putFrameBuf(c.rbuf)
		c.rbuf, c.rpt = nil, nil
	}
}

// Write encrypts p into frames of at most 65519 plaintext bytes, one
// underlying Write per frame. Errors are sticky (see doc.go).
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	if len(p) == 0 {
		return 0, nil
	}
	bp := getFrameBuf()
	defer putFrameBuf(bp)
	written := 0
	for written < len(p) {
		chunk := p[written:min(len(p), written+maxPlaintext)]
		if err := c.writeFrame((*bp)[:2], chunk); err != nil {
			c.werr = err
			return written, err
		}
		written += len(chunk)
	}
	return written, nil
}

// WriteWithHeader writes hdr followed by p as one byte sequence, packing
// hdr into the first frame together with p. A muxer that writes a frame
// header and its body in two calls (hashicorp/yamux does) then costs one
// Noise frame, one seal and one syscall instead of two. It returns how much
// of p was written.
func (c *Conn) WriteWithHeader(hdr, p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	bp := getFrameBuf()
	defer putFrameBuf(bp)
	plain := (*bp)[2 : 2+maxPlaintext]
	written := 0
	for len(hdr) > 0 || written < len(p) {
		h := copy(plain, hdr)
		hdr = hdr[h:]
		m := copy(plain[h:], p[written:])
		// Sealing in place: the ciphertext lands exactly where the
		// plaintext was, which the AEAD allows.
		if err := c.writeFrame((*bp)[:2], plain[:h+m]); err != nil {
			c.werr = err
			return written, err
		}
		written += m
	}
	return written, nil
}

func (c *Conn) writeFrame(buf, chunk []byte) error {
	frame, err := c.enc.Encrypt(buf, nil, chunk)
	if err != nil {
		return fmt.Errorf("noise: encrypting frame: %w", err)
	}
	binary.BigEndian.PutUint16(frame, uint16(len(frame)-2))
	_, err = c.conn.Write(frame)
	return err
}

// Close closes the underlying connection, unblocking pending Read and Write.
func (c *Conn) Close() error { return c.conn.Close() }

// LocalAddr returns the underlying connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the underlying connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// SetDeadline sets the underlying connection's deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline sets the underlying connection's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the underlying connection's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
