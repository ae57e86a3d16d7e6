package host

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/relayd/relayd/p2p/noise"
	"github.com/relayd/relayd/p2p/transport"
)

// Parking. A relay's connections are mostly idle reservations: the peer
// reserved and now waits for someone to connect to it. hashicorp/yamux
// keeps a receive loop and a send loop (4 KiB of stack each), a 4 KiB read
// buffer and its session state for every connection, used or not: about
// 14 KiB of an idle TCP reservation's 27. So once a connection has had no
// stream and no frame either way for Config.ParkIdle, the host shuts its
// yamux session down, without a word on the wire, and one goroutine waits
// on the Noise connection instead ("parked"). It answers the peer's yamux
// pings itself; any other frame, or a stream we open, starts a new session
// on the same connection, which takes the bytes read so far. The peer sees
// one yamux session throughout: our stream IDs continue where the last
// session's ended (frameCoalescer shifts them by idBase), and a new
// session's receive window starts at yamux's initial 256 KiB, which is
// what every stream's window is when the last stream has gone.
//
// The session is woken out of its read by a read deadline in the past; so
// only connections that survive a read timeout park: TCP's, and accepted
// WebSockets, whose transport turns a deadline into an interruption
// between two messages (transport.ReadResumer). A WebSocket's read runs
// through gorilla, about 2 KiB of stack deep; so the parked reader first
// waits in the transport (transport.ReadWaiter), under 1 KiB deep, until
// the peer sends something. Its goroutine then keeps Go's minimum stack
// of 2 KiB, provided it started with it: with GODEBUG=adaptivestackstart=0
// (the Docker image and the Helm chart set it), since otherwise Go starts
// goroutines at the last GC's average stack, 4 KiB in a WebSocket burst.

// errParked ends a session's receive loop when the connection parks. Its
// text says "closed" because hashicorp/yamux logs any other read error.
var errParked = errors.New("yamux session closed to park")

type parkState int

const (
	running   parkState = iota
	parking             // asked to park; the receive loop decides (tryPark)
	parked              // the session is down; a parked reader waits on sc
	connEnded           // the connection is gone
)

// yamuxConn is the muxer of a Noise connection: a yamux session, replaced
// by a new one on the same connection after each park.
type yamuxConn struct {
	sc        *noise.Conn
	cfg       *yamux.Config
	server    bool
	ev        linkEvents
	hostParks *atomic.Int64     // the host's count of connection events (release.go)
	idle      time.Duration     // park after this long without streams or frames; 0: never
	spawn     func(func()) bool // runs the parked reader; false once the host closes

	mu      sync.Mutex
	cur     yamuxSession // the running session; zero while parked
	state   parkState
	closing bool          // Close was called: no more parking or resuming
	opening int           // OpenStream calls using cur
	wakeReq bool          // OpenStream wants a parked connection's session back
	wake    chan struct{} // closed when a parked connection runs again, and replaced
	ended   sync.Once
	done    chan struct{}
	parks   int // times parked, for tests
	// goneAway: the peer sent GoAway, which only the session that read it
	// remembers (yamux then refuses OpenStream with ErrRemoteGoAway); so
	// the connection no longer parks. A GoAway read while parked starts a
	// session like any frame that is not a ping.
	goneAway atomic.Bool
	nextBase uint32 // while parked: the next session's idBase
	// waiter is where the parked reader waits before it reads (see the
	// top of this file), if the raw connection offers a wait; one that
	// cannot wait returns at once.
	waiter transport.ReadWaiter
}

func newYamuxConn(sc *noise.Conn, server bool, cfg *yamux.Config, ev linkEvents, parks *atomic.Int64,
	idle time.Duration, spawn func(func()) bool, waiter transport.ReadWaiter) (*yamuxConn, error) {
	y := &yamuxConn{sc: sc, cfg: cfg, server: server, ev: ev, hostParks: parks, idle: idle, spawn: spawn,
		waiter: waiter, wake: make(chan struct{}), done: make(chan struct{})}
	s, err := y.newSession(0, nil)
	if err != nil {
		return nil, err
	}
	y.cur = s
	return y, nil
}

// newSession starts a yamux session whose stream IDs of ours are shifted
// by base on the wire; prefix is the start of a frame already read from sc.
func (y *yamuxConn) newSession(base uint32, prefix []byte) (yamuxSession, error) {
	link := &frameCoalescer{Conn: y.sc, ev: y.ev, park: y, idBase: base}
	traceFrame(link, 'N', nil)
	if !y.server {
		link.ourOdd = 1
	}
	link.touch()
	link.preload(prefix)
	start := yamux.Client
	if y.server {
		start = yamux.Server
	}
	sess, err := start(link, y.cfg)
	if err != nil {
		return yamuxSession{}, err
	}
	return yamuxSession{Session: sess, link: link}, nil
}

func (y *yamuxConn) OpenStream(ctx context.Context) (MuxedStream, error) {
	for {
		y.mu.Lock()
		switch y.state {
		case running, parking:
			s := y.cur
			y.opening++
			y.mu.Unlock()
			ms, err := s.OpenStream(ctx)
			y.mu.Lock()
			y.opening--
			y.mu.Unlock()
			return ms, err
		case connEnded:
			y.mu.Unlock()
			return nil, yamux.ErrSessionShutdown
		}
		w := y.requestWake()
		y.mu.Unlock()
		select {
		case <-w:
		case <-y.done:
			return nil, yamux.ErrSessionShutdown
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// requestWake asks the parked reader to start a session; y.mu is held.
func (y *yamuxConn) requestWake() <-chan struct{} {
	if !y.wakeReq {
		y.wakeReq = true
		y.sc.SetReadDeadline(time.Unix(1, 0))
	}
	return y.wake
}

// AcceptStream waits for the peer's next stream on whichever session runs.
// A session that parks under it is not an error: the next one is waited
// for.
func (y *yamuxConn) AcceptStream() (MuxedStream, error) {
	for {
		y.mu.Lock()
		st, s, w := y.state, y.cur, y.wake
		y.mu.Unlock()
		switch st {
		case connEnded:
			return nil, yamux.ErrSessionShutdown
		case parked:
			select {
			case <-w:
				continue
			case <-y.done:
				return nil, yamux.ErrSessionShutdown
			}
		}
		ms, err := s.AcceptStream()
		if err == nil {
			return ms, nil
		}
		y.mu.Lock()
		same := y.cur.link == s.link && y.state != parked && y.state != connEnded
		y.mu.Unlock()
		if same {
			return nil, err
		}
	}
}

// Close closes the connection and its streams.
func (y *yamuxConn) Close() error {
	y.mu.Lock()
	y.closing = true
	st, s := y.state, y.cur
	y.mu.Unlock()
	if st == running || st == parking {
		return s.Close()
	}
	// Parked: the parked reader (or whoever starts it) sees sc closed and
	// ends the connection.
	err := y.sc.Close()
	y.end()
	return err
}

func (y *yamuxConn) Done() <-chan struct{} { return y.done }

// NumStreams is the running session's stream count; 0 while parked.
func (y *yamuxConn) NumStreams() int {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.state != running && y.state != parking {
		return 0
	}
	return y.cur.NumStreams()
}

// end marks the connection gone, once: sc closed, Done closed, the Conn
// told (which removes it).
func (y *yamuxConn) end() {
	y.ended.Do(func() {
		y.mu.Lock()
		if y.state == parked {
			y.ev.parkChanged(false)
		}
		y.state = connEnded
		y.mu.Unlock()
		y.sc.Close()
		close(y.done)
		y.ev.linkClosed()
	})
}

// requestPark asks an idle running session to park: its receive loop,
// woken by a read deadline in the past, decides (tryPark).
func (y *yamuxConn) requestPark(now time.Time) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.state != running || y.idle <= 0 || y.goneAway.Load() || y.opening > 0 || !y.cur.link.quietSince(now, y.idle) || y.cur.NumStreams() > 0 {
		return
	}
	y.state = parking
	y.cur.link.parkReq.Store(true)
	y.sc.SetReadDeadline(time.Unix(1, 0))
}

// tryPark runs on the receive loop of link's session when a park
// request's deadline fired: true if the session is to end now. Otherwise,
// or if the read stopped mid-frame (!boundary), the request is dropped
// and the read goes on.
func (y *yamuxConn) tryPark(link *frameCoalescer, boundary bool) bool {
	y.mu.Lock()
	defer y.mu.Unlock()
	link.parkReq.Store(false)
	ok := boundary && y.state == parking && !y.closing && !y.goneAway.Load() && y.cur.link == link && y.opening == 0 &&
		link.quietSince(time.Now(), y.idle) && link.nothingPending() && y.cur.NumStreams() == 0
	if !ok {
		if y.state == parking {
			y.state = running
		}
		y.sc.SetReadDeadline(time.Time{})
		return false
	}
	y.state = parked
	y.parks++
	y.hostParks.Add(1)
	y.ev.parkChanged(true)
	y.sc.SetReadDeadline(time.Time{}) // the parked reader's wait has none
	// Dropping the session is the point: once its loops end, it and its
	// read buffer are garbage.
	y.nextBase = link.nextIDBase()
	y.cur = yamuxSession{}
	return true
}

// sessionParked is called by the parked session's link as yamux closes
// it: both of yamux's loops are done reading; the parked reader takes
// over sc.
func (y *yamuxConn) sessionParked() {
	y.mu.Lock()
	closing := y.closing
	y.mu.Unlock()
	if closing || !y.spawn(y.parkedRead) {
		y.end()
	}
}

// parkedRead waits for the peer's next frame on a parked connection. It
// answers pings; any other frame, or a wake request, starts a session.
//
// With a transport that can wait on a small stack (waiter), reading a
// ping grows the goroutine's stack, which then stays grown; so after the
// pong one read cut at once by our own deadline (rewait) makes sure
// nothing is left buffered, and a fresh goroutine takes over the wait.
func (y *yamuxConn) parkedRead() {
	var h [yamuxHeaderSize]byte
	n := 0
	rewait := false
	for {
		y.mu.Lock()
		wake, gone := y.wakeReq, y.state == connEnded || y.closing
		y.mu.Unlock()
		if gone {
			y.end()
			return
		}
		if wake {
			y.resume(h[:n])
			return
		}
		if rewait {
			rewait = y.pokeSelf()
		} else if err := y.waitReadable(n); err != nil {
			if isTimeout(err) {
				continue // a wake request's deadline
			}
			y.end()
			return
		}
		m, err := y.sc.Read(h[n:])
		if rewait {
			y.unpokeSelf()
		}
		n += m
		if err != nil {
			if !isTimeout(err) {
				y.end()
			} else if !rewait {
				continue // a wake request's deadline
			} else if !y.spawn(y.parkedRead) {
				y.end()
			}
			return
		}
		rewait = false
		if n < yamuxHeaderSize {
			continue
		}
		if !isPeerPing(h[:]) {
			y.resume(h[:])
			return
		}
		var pong [yamuxHeaderSize]byte
		encodeYamux(pong[:], yamuxTypePing, yamuxFlagACK, 0, encodedLength(h[:]))
		if _, err := y.sc.Write(pong[:]); err != nil {
			y.end()
			return
		}
		n = 0
		rewait = y.waiter != nil
	}
}

// pokeSelf puts the read deadline in the past for the parked reader's own
// next read, unless a wake request holds it already (false).
func (y *yamuxConn) pokeSelf() bool {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.wakeReq {
		return false
	}
	y.sc.SetReadDeadline(time.Unix(1, 0))
	return true
}

// unpokeSelf clears pokeSelf's deadline, unless a wake request came since.
func (y *yamuxConn) unpokeSelf() {
	y.mu.Lock()
	defer y.mu.Unlock()
	if !y.wakeReq {
		y.sc.SetReadDeadline(time.Time{})
	}
}

// waitReadable waits in the raw connection, if it can, until the peer
// sends something: only between two frames (got is the part of a header
// read so far) with nothing decrypted waiting in the Noise connection.
func (y *yamuxConn) waitReadable(got int) error {
	if y.waiter == nil || got > 0 || y.sc.Buffered() > 0 {
		return nil
	}
	return y.waiter.WaitReadable()
}

// resume starts a session on a parked connection, handing it prefix (the
// part of a frame the parked reader read).
func (y *yamuxConn) resume(prefix []byte) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.state == connEnded || y.closing {
		go y.end()
		return
	}
	y.sc.SetReadDeadline(time.Time{})
	s, err := y.newSession(y.nextBase, prefix)
	if err != nil {
		// yamux refuses only a bad config, which the first session used.
		go y.end()
		return
	}
	y.cur = s
	y.state = running
	y.ev.parkChanged(false)
	y.wakeReq = false
	close(y.wake)
	y.wake = make(chan struct{})
}

// isPeerPing: a yamux ping the peer sends (SYN), to be answered.
func isPeerPing(h []byte) bool {
	return h[1] == yamuxTypePing && flagsOf(h)&yamuxFlagSYN != 0
}

// parkSweeper parks the host's idle yamux connections, looking every
// ParkIdle/2, until the host closes. The memory they free goes back to
// the OS with the releaser's next release (release.go).
func (h *Host) parkSweeper() {
	t := time.NewTicker(h.cfg.ParkIdle / 2)
	defer t.Stop()
	var conns []*Conn
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-t.C:
			conns = h.appendConns(conns[:0])
			for _, c := range conns {
				if y, ok := c.mux.(*yamuxConn); ok {
					y.requestPark(now)
				}
			}
			clear(conns)
		}
	}
}

// parkable: tc's reads survive a read deadline (see the top of this
// file), so its connection may park; tc is the transport's own
// connection (transportConn).
func parkable(tc transport.RawConn, label string) bool {
	if label == "tcp" {
		return true
	}
	r, ok := tc.(transport.ReadResumer)
	return ok && r.ResumesAfterReadTimeout()
}

// newYamuxConn starts the muxer of a Noise connection over raw, of the
// transport label; ev is its Conn.
func (h *Host) newYamuxConn(sc *noise.Conn, server bool, ev linkEvents, raw transport.RawConn, label string) (*yamuxConn, error) {
	tc := transportConn(raw)
	var idle time.Duration
	if parkable(tc, label) && h.cfg.ParkIdle > 0 {
		idle = h.cfg.ParkIdle
		h.sweeper.Do(func() { h.goTracked(h.parkSweeper) })
	}
	waiter, _ := tc.(transport.ReadWaiter)
	return newYamuxConn(sc, server, h.yamux, ev, &h.connEvents, idle, h.goTracked, waiter)
}

// appendConns appends every live connection to dst.
func (h *Host) appendConns(dst []*Conn) []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, cs := range h.conns {
		dst = append(dst, cs...)
	}
	return dst
}
