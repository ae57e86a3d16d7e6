package host

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayd/relayd/p2p/noise"
)

// yamux wire constants (spec: github.com/hashicorp/yamux/spec.md).
const (
	yamuxHeaderSize       = 12
	yamuxTypeData         = 0
	yamuxTypeWindowUpdate = 1
	yamuxTypePing         = 2
	yamuxTypeGoAway       = 3
	yamuxFlagSYN          = 0x1
	yamuxFlagACK          = 0x2
	yamuxFlagRST          = 0x8
	// ourPing marks the IDs of the pings the host sends itself (see
	// resetStream); hashicorp/yamux numbers its own pings from 0.
	ourPing = 1 << 31
)

// frameCoalescer is the byte path under one yamux session, between yamux
// and Noise. It sees every frame boundary in both directions, which is what
// lets the host reset a stream for real (hashicorp/yamux has no public
// stream reset; see doc.go):
//
//   - Writes: hashicorp/yamux writes a data frame's 12-byte header and its
//     body in two Write calls, which over Noise would cost two frames, two
//     seals and two syscalls. The header says whether a body follows (type
//     Data, length > 0), so such a header is held and sent with the body in
//     one Noise frame. Only yamux's send loop calls Write; every held header
//     is followed by its body in the very next Write. Frames the host adds
//     (RST, ping) wait in out and are written between two of yamux's
//     frames, under wmu, by whichever goroutine gets there first.
//   - Stream opening: the header-only frame that opens a stream (window
//     update with SYN) or accepts one (with ACK) is held too and sent in
//     the Noise frame of the next write: the host writes on a stream right
//     after opening or accepting it (the multistream negotiation), so the
//     frame waits microseconds, and the peer gets SYN or ACK and the first
//     bytes in one frame, one seal, one syscall instead of two. A reset
//     (send) flushes it first. Sessions built by CoalesceYamux (the mesh)
//     do not hold them: their users may open a stream and wait.
//   - Reads: only yamux's receive loop calls Read. Each call returns bytes
//     of at most one frame, so between two frames the host can hand yamux
//     frames of its own (in): an RST that makes yamux drop a stream we
//     reset. The answer to the host's own ping is swallowed here.
type frameCoalescer struct {
	*noise.Conn

	// write side
	hdr  [yamuxHeaderSize]byte // held data header (send loop only)
	held bool
	wmu  sync.Mutex // held while one frame (or the queued frames) is written
	// open holds SYN and ACK frames until the next write (under wmu);
	// noHoldOpen turns that off (CoalesceYamux).
	open       []byte
	noHoldOpen bool
	omu        sync.Mutex
	out        []byte      // frames to write at the next frame boundary
	outN       atomic.Bool // out is not empty

	// read side (receive loop only)
	rhdr  [yamuxHeaderSize]byte
	rhdrN int    // header bytes read from Noise
	rout  int    // header bytes handed to yamux
	rbody uint32 // data-frame body bytes still to hand to yamux
	rinj  []byte // injected frames being handed to yamux
	imu   sync.Mutex
	in    []byte // frames to hand to yamux at the next frame boundary

	pings    atomic.Uint32
	pingsOut atomic.Int32 // our pings not answered yet

	// Parking (park.go); park is nil on links the host does not serve.
	// Our stream IDs are shifted by idBase on the wire, both ways, so a
	// session started after a park continues the IDs of the one before.
	park     *yamuxConn
	idBase   uint32
	ourOdd   uint32        // 1 if our stream IDs are odd (yamux client)
	maxOurID atomic.Uint32 // highest wire ID of a stream we opened
	last     atomic.Int64  // unix nanoseconds of the last frame either way
	parkReq  atomic.Bool   // requestPark set a read deadline in the past
	parked   atomic.Bool   // Read ended the session to park it

	// ev hears of streams the peer opens and of the link closing, so the
	// host needs no goroutine per connection parked in AcceptStream (see
	// Conn.acceptStreams). Nil for links the host does not serve.
	ev linkEvents
}

// linkEvents is what a frameCoalescer tells its connection.
type linkEvents interface {
	// streamOpening: a SYN (a new stream) was handed to yamux. Called on
	// yamux's receive loop; must not block.
	streamOpening()
	// linkClosed: the connection ended, whatever the reason (not a
	// session parking: park.go).
	linkClosed()
	// parkChanged: the session parked (true) or a parked connection
	// ran again or ended (false). Called under the connection's lock.
	parkChanged(parked bool)
}

// Close is called by yamux, once, when the session ends. A parked
// session's connection stays open for the parked reader.
func (c *frameCoalescer) Close() error {
	if c.parked.Load() {
		c.park.sessionParked()
		return nil
	}
	err := c.Conn.Close()
	if c.park != nil {
		c.park.end()
	}
	return err
}

func (c *frameCoalescer) Write(p []byte) (int, error) {
	if c.park != nil {
		c.touch()
	}
	if c.held {
		c.held = false
		c.wmu.Lock()
		hdr := c.hdr[:]
		if len(c.open) > 0 {
			hdr = append(c.open, hdr...)
			c.open = c.open[:0]
		}
		traceFrame(c, 'W', c.hdr[:])
		n, err := c.Conn.WriteWithHeader(hdr, p)
		c.wmu.Unlock()
		c.flush()
		return n, err
	}
	if len(p) == yamuxHeaderSize && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:]) > 0 {
		copy(c.hdr[:], p)
		c.toWire(c.hdr[:])
		c.held = true
		return len(p), nil
	}
	n := len(p)
	var f [yamuxHeaderSize]byte
	if n == yamuxHeaderSize && c.shifted(p) {
		p = f[:copy(f[:], p)]
	}
	if n == yamuxHeaderSize {
		c.toWire(p) // every Write not after a held header is a whole frame
	}
	c.wmu.Lock()
	if !c.noHoldOpen && isOpenFrame(p) {
		c.open = append(c.open, p...)
		c.wmu.Unlock()
		return n, nil
	}
	n, err := c.writeOpen(p)
	c.wmu.Unlock()
	c.flush()
	return n, err
}

// isOpenFrame: p is one window-update frame that opens (SYN) or accepts
// (ACK) a stream and does nothing else that cannot wait (no FIN, no RST).
func isOpenFrame(p []byte) bool {
	if len(p) != yamuxHeaderSize || p[1] != yamuxTypeWindowUpdate {
		return false
	}
	f := binary.BigEndian.Uint16(p[2:])
	return f&(yamuxFlagSYN|yamuxFlagACK) != 0 && f&^(yamuxFlagSYN|yamuxFlagACK) == 0
}

// writeOpen writes the held SYN and ACK frames, then p, in one Noise frame
// (one per 64 KiB); wmu is held. It returns how much of p was written.
func (c *frameCoalescer) writeOpen(p []byte) (int, error) {
	if len(c.open) == 0 {
		return c.Conn.Write(p)
	}
	open := c.open
	c.open = c.open[:0]
	return c.Conn.WriteWithHeader(open, p)
}

// send queues whole frames for the peer and writes them now unless a frame
// is being written, whose writer then writes them (flush after its
// unlock), so they never wait for yamux's next frame.
func (c *frameCoalescer) send(frames []byte) {
	c.omu.Lock()
	c.out = append(c.out, frames...)
	c.outN.Store(true)
	c.omu.Unlock()
	c.flush()
}

// flush writes the queued frames if no frame is being written. Whoever
// holds wmu flushes after releasing it, so a frame queued while TryLock
// fails is never stranded.
func (c *frameCoalescer) flush() {
	for c.outN.Load() {
		if !c.wmu.TryLock() {
			return
		}
		c.omu.Lock()
		b := c.out
		c.out = nil
		c.outN.Store(false)
		c.omu.Unlock()
		if len(b) > 0 {
			// An error is sticky in Noise: yamux's next write sees it
			// and ends the session.
			c.writeOpen(b)
		}
		c.wmu.Unlock()
	}
}

// inject queues whole frames for our own yamux, handed over at the next
// frame boundary of the peer's byte stream.
func (c *frameCoalescer) inject(frames []byte) {
	c.imu.Lock()
	c.in = append(c.in, frames...)
	c.imu.Unlock()
}

func (c *frameCoalescer) takeInjected() []byte {
	c.imu.Lock()
	defer c.imu.Unlock()
	b := c.in
	c.in = nil
	return b
}

func (c *frameCoalescer) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		switch {
		case len(c.rinj) > 0:
			n := copy(p, c.rinj)
			c.rinj = c.rinj[n:]
			return n, nil
		case c.rbody > 0:
			n, err := c.readConn(p[:min(uint32(len(p)), c.rbody)], false)
			c.rbody -= uint32(n)
			return n, err
		case c.rhdrN == yamuxHeaderSize:
			n := copy(p, c.rhdr[c.rout:])
			c.rout += n
			if c.rout == yamuxHeaderSize {
				if c.rhdr[1] == yamuxTypeData {
					c.rbody = binary.BigEndian.Uint32(c.rhdr[8:])
				}
				if c.ev != nil && opensStream(c.rhdr[:]) {
					c.ev.streamOpening()
				}
				c.rhdrN, c.rout = 0, 0
			}
			return n, nil
		}
		if c.rhdrN == 0 {
			// A frame boundary: our own frames go first.
			if c.rinj = c.takeInjected(); len(c.rinj) > 0 {
				continue
			}
		}
		n, err := c.readConn(c.rhdr[c.rhdrN:], c.rhdrN == 0)
		c.rhdrN += n
		if err != nil {
			return 0, err
		}
		if c.rhdrN < yamuxHeaderSize {
			continue
		}
		c.fromWire(c.rhdr[:])
		traceFrame(c, 'R', c.rhdr[:])
		if isOurPingAck(c.rhdr[:]) {
			c.pingAnswered()
			c.rhdrN = 0
		}
	}
}

// opensStream: a data or window update frame with SYN, which yamux takes
// as a new stream from the peer.
func opensStream(h []byte) bool {
	return (h[1] == yamuxTypeData || h[1] == yamuxTypeWindowUpdate) && binary.BigEndian.Uint16(h[2:])&yamuxFlagSYN != 0
}

// pingAnswered counts the answer to one of our pings. An answer when none
// is out is a peer's forgery: counting it would leave pingsOut below zero
// for good, and the connection could then never park.
func (c *frameCoalescer) pingAnswered() {
	for {
		n := c.pingsOut.Load()
		if n <= 0 || c.pingsOut.CompareAndSwap(n, n-1) {
			return
		}
	}
}

func isOurPingAck(h []byte) bool {
	return h[1] == yamuxTypePing && binary.BigEndian.Uint16(h[2:])&yamuxFlagACK != 0 &&
		binary.BigEndian.Uint32(h[8:])&ourPing != 0
}

// resetStream resets stream id for real: an RST frame goes to the peer
// between two frames, followed by a ping whose answer is a frame boundary
// on the way in, where the same RST is handed to our own yamux, which then
// drops the stream as if the peer had reset it (state freed, no FIN, no
// close timer). See doc.go.
func (c *frameCoalescer) resetStream(id uint32) {
	var f [3 * yamuxHeaderSize]byte
	encodeYamux(f[:yamuxHeaderSize], yamuxTypeWindowUpdate, yamuxFlagRST, c.wireID(id), 0)
	encodeYamux(f[yamuxHeaderSize:2*yamuxHeaderSize], yamuxTypePing, yamuxFlagSYN, 0, ourPing|c.pings.Add(1)&(ourPing-1))
	c.pingsOut.Add(1)
	encodeYamux(f[2*yamuxHeaderSize:], yamuxTypeWindowUpdate, yamuxFlagRST, id, 0)
	c.inject(f[2*yamuxHeaderSize:])
	c.send(f[:2*yamuxHeaderSize])
}

func encodeYamux(h []byte, typ byte, flags uint16, id, length uint32) []byte {
	h[0] = 0
	h[1] = typ
	binary.BigEndian.PutUint16(h[2:], flags)
	binary.BigEndian.PutUint32(h[4:], id)
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

var _ net.Conn = (*frameCoalescer)(nil)

// CoalesceYamux wraps a Noise connection that carries a hashicorp/yamux
// session (as the fleet mesh's links do) so each yamux data frame travels
// in one Noise frame; see frameCoalescer.
func CoalesceYamux(c *noise.Conn) net.Conn { return &frameCoalescer{Conn: c, noHoldOpen: true} }

// readConn reads from Noise. A read deadline that a park request set
// (park.go) is not an error here: at a frame boundary (boundary) the
// session may park, ending with errParked; otherwise, or if it may not,
// the request is dropped and the read goes on.
func (c *frameCoalescer) readConn(p []byte, boundary bool) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if err == nil || c.park == nil || !c.parkReq.Load() {
			return n, err
		}
		if !isTimeout(err) {
			return n, err
		}
		if c.park.tryPark(c, boundary) {
			c.parked.Store(true)
			return n, errParked
		}
		if n > 0 {
			return n, nil
		}
	}
}

// isTimeout: err is a deadline passing (net.Error's Timeout), which leaves
// the connection usable.
func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// touch records a frame going either way.
func (c *frameCoalescer) touch() { c.last.Store(time.Now().UnixNano()) }

// quietSince: no frame went either way in the idle before now.
func (c *frameCoalescer) quietSince(now time.Time, idle time.Duration) bool {
	return now.UnixNano()-c.last.Load() >= int64(idle)
}

// nothingPending: no frame of the host's waits to go out or in, and none
// of its pings waits for an answer. Called on the receive loop.
func (c *frameCoalescer) nothingPending() bool {
	if len(c.rinj) > 0 || c.outN.Load() || c.pingsOut.Load() != 0 {
		return false
	}
	c.imu.Lock()
	in := len(c.in)
	c.imu.Unlock()
	// A write in progress (a peer that stopped reading) is not quiet, and
	// must not stall the caller, which holds the connection's lock.
	if !c.wmu.TryLock() {
		return false
	}
	open := len(c.open)
	c.wmu.Unlock()
	return in == 0 && open == 0
}

// preload hands the session the start of a frame that the parked reader
// read.
func (c *frameCoalescer) preload(prefix []byte) {
	c.rhdrN = copy(c.rhdr[:], prefix)
	if c.rhdrN == yamuxHeaderSize {
		c.fromWire(c.rhdr[:])
		traceFrame(c, 'R', c.rhdr[:])
	}
}

// ours: id is a stream we opened (yamux: the client's are odd).
func (c *frameCoalescer) ours(id uint32) bool { return id != 0 && id&1 == c.ourOdd }

// hasStreamID: a frame type whose ID field names a stream.
func hasStreamID(h []byte) bool { return h[1] == yamuxTypeData || h[1] == yamuxTypeWindowUpdate }

// shifted: writing frame h means changing its stream ID.
func (c *frameCoalescer) shifted(h []byte) bool {
	return c.idBase != 0 && hasStreamID(h) && c.ours(binary.BigEndian.Uint32(h[4:]))
}

// wireID is the ID the peer knows our session's stream id by.
func (c *frameCoalescer) wireID(id uint32) uint32 {
	if c.ours(id) {
		return id + c.idBase
	}
	return id
}

// toWire shifts the stream ID of a frame we send and notes the streams we
// open.
func (c *frameCoalescer) toWire(h []byte) {
	if !hasStreamID(h) {
		return
	}
	id := binary.BigEndian.Uint32(h[4:])
	if !c.ours(id) {
		return
	}
	id += c.idBase
	if c.idBase != 0 {
		binary.BigEndian.PutUint32(h[4:], id)
	}
	if flagsOf(h)&yamuxFlagSYN != 0 && id > c.maxOurID.Load() {
		c.maxOurID.Store(id) // only the send loop writes SYNs
	}
}

// fromWire takes in the header of a frame the peer sent: it notes the
// frame's time and a GoAway (park.go), and shifts back the stream ID. A
// frame for a stream of an earlier session becomes one for stream 0, which
// yamux ignores as it ignores any unknown stream.
func (c *frameCoalescer) fromWire(h []byte) {
	c.touch()
	if c.park != nil && h[1] == yamuxTypeGoAway {
		c.park.goneAway.Store(true)
	}
	if c.idBase == 0 || !hasStreamID(h) {
		return
	}
	id := binary.BigEndian.Uint32(h[4:])
	if !c.ours(id) {
		return
	}
	if id <= c.idBase {
		id = 0
	} else {
		id -= c.idBase
	}
	binary.BigEndian.PutUint32(h[4:], id)
}

// nextIDBase is the idBase of the session after this one: its first
// stream of ours gets the wire ID after the last one we opened.
func (c *frameCoalescer) nextIDBase() uint32 {
	m := c.maxOurID.Load()
	return max(c.idBase, m+m&1)
}

func flagsOf(h []byte) uint16 { return binary.BigEndian.Uint16(h[2:]) }

// encodedLength is a frame's length field (a ping's opaque value).
func encodedLength(h []byte) uint32 { return binary.BigEndian.Uint32(h[8:]) }
