package host

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/identity"
)

const parkTestProto = "/test/park-echo/1"

// parkTracer counts what the host reports of parking.
type parkTracer struct {
	NopTracer
	parked, parks atomic.Int64
}

func (p *parkTracer) ConnParked(parked bool) {
	if parked {
		p.parked.Add(1)
		p.parks.Add(1)
	} else {
		p.parked.Add(-1)
	}
}

// parkTransports are the transports whose connections park: TCP on both
// ends, a WebSocket on the accepting end only (a dialed one's reads do
// not survive a read deadline; see ws.Conn.ResumesAfterReadTimeout).
type parkTransport struct {
	name, addr  string
	clientParks bool
}

var parkTransports = []parkTransport{
	{"tcp", tcpLoopback, true},
	{"ws", "/ip4/127.0.0.1/tcp/0/ws", false},
}

const tcpLoopback = "/ip4/127.0.0.1/tcp/0"

// forParkTransports runs fn as a subtest per transport of parkTransports,
// with srv listening on it and parking connections idle for idle, and
// cli parking after cliIdle; it checks for leaked goroutines.
func forParkTransports(t *testing.T, idle, cliIdle time.Duration, fn func(t *testing.T, tr parkTransport, srv, cli *Host)) {
	t.Helper()
	leakcheck.Check(t)
	for _, tr := range parkTransports {
		t.Run(tr.name, func(t *testing.T) {
			fn(t, tr, parkHost(t, idle, tr.addr), parkHost(t, cliIdle, ""))
		})
	}
}

// parkHost is a host that parks connections idle for idle, serving an
// echo protocol; with listen not empty, it listens there and serves.
func parkHost(t *testing.T, idle time.Duration, listen string) *Host {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h, err := New(Config{Key: k, ParkIdle: idle, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		ConnLimits: ConnLimits{MaxConns: -1, ConnRatePerIP: limiter.NoRate}, Tracer: &parkTracer{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.Handle(parkTestProto, func(s *Stream) { defer s.Close(); io.Copy(s, s) })
	if listen == "" {
		return h
	}
	if _, err := h.Listen(ma.StringCast(listen)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// parkedPair dials cli to srv and returns both ends of the connection.
func parkedPair(t *testing.T, srv, cli *Host) (client, server *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := cli.Dial(ctx, srv.ListenAddrs()[0], srv.ID())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := srv.WaitConn(ctx, cli.ID(), func(sc *Conn) bool { return sc.RemoteMultiaddr().Equal(c.LocalMultiaddr()) })
	if err != nil {
		t.Fatal(err)
	}
	return c, sc
}

func yc(c *Conn) *yamuxConn { return c.mux.(*yamuxConn) }

func (y *yamuxConn) parkCount() (int, parkState) {
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.parks, y.state
}

// waitParked waits until c has parked more than n times and is parked now.
func waitParked(t *testing.T, c *Conn, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, st := yc(c).parkCount()
		if got > n && st == parked {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection parked %d times, state %d; want more than %d and parked", got, st, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func parkEcho(t *testing.T, c *Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := c.NewStream(ctx, parkTestProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	if _, err := s.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if b, err := io.ReadAll(s); err != nil || string(b) != msg {
		t.Fatalf("echo = %q, %v", b, err)
	}
}

// TestParkAndResume: idle connections park on both ends and come back for
// a stream opened by either side, several times over, with stream IDs
// that keep growing on the wire.
func TestParkAndResume(t *testing.T) {
	forParkTransports(t, 100*time.Millisecond, 100*time.Millisecond, func(t *testing.T, tr parkTransport, srv, cli *Host) {
		c, sc := parkedPair(t, srv, cli)
		for i := range 3 {
			if tr.clientParks {
				waitParked(t, c, i)
			}
			waitParked(t, sc, i)
			parkEcho(t, c, "from the client")
			parkEcho(t, sc, "from the server")
		}
		if n, _ := yc(sc).parkCount(); n < 3 {
			t.Errorf("server side parked %d times, want 3", n)
		}
		// Both ran a session for the last echo; a park may have begun since.
		pt := srv.cfg.Tracer.(*parkTracer)
		if p, n := pt.parked.Load(), pt.parks.Load(); n < 3 || p < 0 || p > 1 {
			t.Errorf("tracer: %d parked, %d parks; want 0 or 1, and at least 3", p, n)
		}
	})
}

// session is the running yamux session of c's muxer.
func session(c *Conn) yamuxSession {
	y := yc(c)
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.cur
}

// TestParkedWebSocketWaitsShallow: a parked WebSocket's reader waits in
// the transport's WaitReadable, not in a read through gorilla, so its
// goroutine keeps a small stack; after answering the peer's pings too
// (a fresh goroutine takes the wait over); once the peer opens a stream,
// the connection resumes as usual.
func TestParkedWebSocketWaitsShallow(t *testing.T) {
	leakcheck.Check(t)
	srv := parkHost(t, 50*time.Millisecond, "/ip4/127.0.0.1/tcp/0/ws")
	cli := parkHost(t, -1, "")
	c, sc := parkedPair(t, srv, cli)
	for i := range 2 {
		waitParked(t, sc, i)
		waitShallow(t, fmt.Sprintf("round %d, parked", i))
		for range 3 {
			if _, err := session(c).Ping(); err != nil {
				t.Fatalf("round %d: ping: %v", i, err)
			}
		}
		waitShallow(t, fmt.Sprintf("round %d, after the pings", i))
		if n, st := yc(sc).parkCount(); n != i+1 || st != parked {
			t.Fatalf("round %d: after the pings: parked %d times, state %d; want %d, parked", i, n, st, i+1)
		}
		parkEcho(t, c, "wakes it")
	}
}

func waitShallow(t *testing.T, when string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !parkedReaderWaitsIn("WaitReadable") {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no parked reader waits in WaitReadable", when)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// parkedReaderWaitsIn: some goroutine running parkedRead has fn in its
// stack.
func parkedReaderWaitsIn(fn string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "parkedRead") && strings.Contains(g, fn) {
			return true
		}
	}
	return false
}

// TestParkedPing: a parked connection answers the peer's yamux pings
// itself, without starting a session.
func TestParkedPing(t *testing.T) {
	forParkTransports(t, 50*time.Millisecond, -1, func(t *testing.T, _ parkTransport, srv, cli *Host) {
		c, sc := parkedPair(t, srv, cli)
		waitParked(t, sc, 0)
		for range 3 {
			if _, err := session(c).Ping(); err != nil {
				t.Fatalf("ping a parked connection: %v", err)
			}
		}
		if n, st := yc(sc).parkCount(); n != 1 || st != parked {
			t.Errorf("after pings: parked %d times, state %d; want once, still parked", n, st)
		}
		parkEcho(t, c, "still there")
	})
}

// TestParkedGoAway: a GoAway the peer sends to a parked connection is
// heard (its session refuses our streams as yamux does) and kept: the
// connection parks no more, since a later session would not know of it.
func TestParkedGoAway(t *testing.T) {
	const idle = 50 * time.Millisecond
	forParkTransports(t, idle, -1, func(t *testing.T, _ parkTransport, srv, cli *Host) {
		c, sc := parkedPair(t, srv, cli)
		waitParked(t, sc, 0)
		if err := session(c).GoAway(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !yc(sc).goneAway.Load() {
			if time.Now().After(deadline) {
				t.Fatal("the parked connection did not read the peer's GoAway")
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Long enough for several parks if the connection still parked.
		time.Sleep(6 * idle)
		if n, st := yc(sc).parkCount(); n != 1 || st != running {
			t.Errorf("after the peer's GoAway: parked %d times, state %d; want once, running", n, st)
		}
		if _, err := sc.NewStream(t.Context(), parkTestProto); !errors.Is(err, yamux.ErrRemoteGoAway) {
			t.Errorf("stream to a peer that sent GoAway: %v, want %v", err, yamux.ErrRemoteGoAway)
		}
		parkEcho(t, c, "the peer may still open streams")
	})
}

// TestParkedStreamIDsContinue: streams a parking side opens get new IDs on
// the wire, session after session, as the peer must see them.
func TestParkedStreamIDsContinue(t *testing.T) {
	forParkTransports(t, 50*time.Millisecond, -1, func(t *testing.T, _ parkTransport, srv, cli *Host) {
		ids := make(chan uint32, 8)
		cli.Handle("/test/park-id/1", func(s *Stream) {
			ids <- s.MuxedStream.(*yamuxStream).StreamID()
			s.Close()
		})
		_, sc := parkedPair(t, srv, cli)
		var last uint32
		for i := range 4 {
			waitParked(t, sc, i)
			s, err := sc.NewStream(t.Context(), "/test/park-id/1")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, s)
			s.Close()
			id := <-ids
			if id <= last || id%2 != 0 {
				t.Fatalf("stream %d of the server has ID %d on the wire after %d", i, id, last)
			}
			last = id
		}
	})
}

// TestParkedPeerCloses: a parked connection whose peer goes away is
// removed like any other.
func TestParkedPeerCloses(t *testing.T) {
	forParkTransports(t, 50*time.Millisecond, -1, func(t *testing.T, _ parkTransport, srv, cli *Host) {
		gone := make(chan struct{})
		srv.OnPeerDisconnected(func(identity.PeerID) { close(gone) })
		c, sc := parkedPair(t, srv, cli)
		waitParked(t, sc, 0)
		pt := srv.cfg.Tracer.(*parkTracer)
		if pt.parked.Load() != 1 || pt.parks.Load() != 1 {
			t.Errorf("tracer: %d parked, %d parks; want 1 and 1", pt.parked.Load(), pt.parks.Load())
		}
		c.Close()
		select {
		case <-gone:
		case <-time.After(10 * time.Second):
			t.Fatal("the parked connection's end went unnoticed")
		}
		if srv.NumPeers() != 0 {
			t.Errorf("server holds %d peers", srv.NumPeers())
		}
		if pt.parked.Load() != 0 {
			t.Errorf("tracer: %d parked after the connection ended, want 0", pt.parked.Load())
		}
	})
}

// TestParkedHostClose: closing a host with parked connections ends them
// and every goroutine (leakcheck); the peer sees the connection end.
func TestParkedHostClose(t *testing.T) {
	forParkTransports(t, 50*time.Millisecond, 50*time.Millisecond, func(t *testing.T, tr parkTransport, srv, cli *Host) {
		c, sc := parkedPair(t, srv, cli)
		if tr.clientParks {
			waitParked(t, c, 0)
		}
		waitParked(t, sc, 0)
		srv.Close()
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the client never saw the connection end")
		}
	})
}

// TestParkRace: streams opened at random moments from either side, while
// both sides park and resume every few milliseconds, all work.
func TestParkRace(t *testing.T) {
	forParkTransports(t, 10*time.Millisecond, 10*time.Millisecond, func(t *testing.T, tr parkTransport, srv, cli *Host) {
		c, sc := parkedPair(t, srv, cli)
		end := time.Now().Add(time.Second)
		for i := 0; time.Now().Before(end); i++ {
			time.Sleep(time.Duration(i*7%13) * time.Millisecond)
			if i%2 == 0 {
				parkEcho(t, c, "client")
			} else {
				parkEcho(t, sc, "server")
			}
		}
		// Both sides park again once the streams stop, whatever the
		// interleaving above did; how often they parked during it depends on
		// the machine's speed, so it is only logged.
		nc, _ := yc(c).parkCount()
		ns, _ := yc(sc).parkCount()
		t.Logf("client parked %d times, server %d", nc, ns)
		if tr.clientParks {
			waitParked(t, c, nc-1) // nc may already count the last park
		}
		waitParked(t, sc, ns-1)
		parkEcho(t, c, "after the race")
	})
}

// TestParkCloseRace: connections closed by either side at any moment of
// parking or resuming end on both sides, leaving no goroutine behind.
func TestParkCloseRace(t *testing.T) {
	forParkTransports(t, 2*time.Millisecond, 2*time.Millisecond, func(t *testing.T, _ parkTransport, srv, cli *Host) {
		for i := range 20 {
			c, sc := parkedPair(t, srv, cli)
			time.Sleep(time.Duration(i%7) * time.Millisecond)
			closer, other := c, sc
			if i%2 == 1 {
				closer, other = sc, c
			}
			closer.Close()
			for _, x := range []*Conn{closer, other} {
				select {
				case <-x.Done():
				case <-time.After(10 * time.Second):
					t.Fatalf("round %d: a connection never ended", i)
				}
			}
		}
	})
}

// TestStreamIDShift: how a link after a park maps stream IDs, both ways.
// Only our streams move (even IDs for a yamux server, odd for a client);
// a frame the peer sends for one of our streams from before the park
// names stream 0, which yamux ignores; pings and go-aways have no stream.
func TestStreamIDShift(t *testing.T) {
	frame := func(typ byte, flags uint16, id uint32) []byte {
		return encodeYamux(make([]byte, yamuxHeaderSize), typ, flags, id, 0)
	}
	idOf := func(h []byte) uint32 { return binary.BigEndian.Uint32(h[4:]) }
	tests := []struct {
		name        string
		odd         uint32 // 1: we are the yamux client
		base        uint32
		typ         byte
		local, wire uint32 // toWire(local) == wire; fromWire(wire) == local
	}{
		{"server's own stream", 0, 6, yamuxTypeData, 2, 8},
		{"server's window update", 0, 6, yamuxTypeWindowUpdate, 4, 10},
		{"peer's stream untouched", 0, 6, yamuxTypeData, 3, 3},
		{"client's own stream", 1, 6, yamuxTypeWindowUpdate, 1, 7},
		{"client, peer's stream untouched", 1, 6, yamuxTypeData, 2, 2},
		{"no shift before the first park", 0, 0, yamuxTypeData, 2, 2},
		{"ping has no stream", 0, 6, yamuxTypePing, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &frameCoalescer{idBase: tt.base, ourOdd: tt.odd}
			h := frame(tt.typ, 0, tt.local)
			c.toWire(h)
			if idOf(h) != tt.wire {
				t.Errorf("toWire(%d) = %d, want %d", tt.local, idOf(h), tt.wire)
			}
			c.fromWire(h)
			if idOf(h) != tt.local {
				t.Errorf("fromWire(%d) = %d, want %d", tt.wire, idOf(h), tt.local)
			}
		})
	}

	// A frame for our stream 4 of the session before the park (base 6).
	c := &frameCoalescer{idBase: 6}
	h := frame(yamuxTypeWindowUpdate, yamuxFlagRST, 4)
	c.fromWire(h)
	if idOf(h) != 0 {
		t.Errorf("a frame for old stream 4 maps to %d, want 0", idOf(h))
	}

	// The next session's base follows the highest stream we opened.
	for _, tt := range []struct {
		odd, base, syn, want uint32
	}{
		{0, 0, 0, 0},  // no stream opened: no shift
		{0, 0, 4, 4},  // server opened 2 and 4: the next session's 2 is 6
		{1, 0, 5, 6},  // client opened 1..5: the next session's 1 is 7
		{0, 6, 0, 6},  // none opened since the last park
		{1, 6, 9, 10}, // client's 1 and 3 were 7 and 9
	} {
		c := &frameCoalescer{idBase: tt.base, ourOdd: tt.odd}
		if tt.syn != 0 {
			h := frame(yamuxTypeWindowUpdate, yamuxFlagSYN, tt.syn-tt.base)
			c.toWire(h)
		}
		if got := c.nextIDBase(); got != tt.want {
			t.Errorf("odd %d, base %d, last SYN on the wire %d: next base %d, want %d", tt.odd, tt.base, tt.syn, got, tt.want)
		}
	}
}
