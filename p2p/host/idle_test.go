package host_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
)

// manyConnsHost is serveHost without the per-IP connection rate, so one
// client can open dozens of connections at once.
func manyConnsHost(t *testing.T) *host.Host {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h, err := host.New(host.Config{
		Key:        k,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
		ConnLimits: host.ConnLimits{MaxConns: -1, ConnRatePerIP: limiter.NoRate},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	serveOn(t, h, "/ip4/127.0.0.1/tcp/0")
	return h
}

// idleConns dials n connections from one client host to srv and runs one
// echo stream each way on each, so both sides have accepted and served a
// stream, then lets every stream end.
func idleConns(t *testing.T, srv, cli *host.Host, n int) []*host.Conn {
	t.Helper()
	const proto = "/test/idle-echo/1"
	echo := func(s *host.Stream) { defer s.Close(); io.Copy(s, s) }
	srv.Handle(proto, echo)
	cli.Handle(proto, echo)
	addr := srv.ListenAddrs()[0]
	conns := make([]*host.Conn, n)
	for i := range conns {
		c, err := cli.Dial(ctx10(t), addr, srv.ID())
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		echoOn(t, c, proto)
		sc, err := srv.WaitConn(ctx10(t), cli.ID(), func(sc *host.Conn) bool {
			return sc.RemoteMultiaddr().Equal(c.LocalMultiaddr())
		})
		if err != nil {
			t.Fatal(err)
		}
		echoOn(t, sc, proto)
	}
	return conns
}

func echoOn(t *testing.T, c *host.Conn, proto string) {
	t.Helper()
	s, err := c.NewStream(ctx10(t), proto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	if _, err := s.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if b, err := io.ReadAll(s); err != nil || string(b) != "ping" {
		t.Fatalf("echo = %q, %v", b, err)
	}
}

// hostGoroutines counts the goroutines in the host's or yamux's code: the
// ones a connection costs, without the runtime's and the test framework's,
// which come and go on their own.
func hostGoroutines() (int, string) {
	buf := make([]byte, 8<<20)
	all := string(buf[:runtime.Stack(buf, true)])
	n := 0
	for _, g := range strings.Split(all, "\n\n") {
		if strings.Contains(g, "github.com/hashicorp/yamux.") || strings.Contains(g, "github.com/relayd/relayd/p2p/host.") {
			n++
		}
	}
	return n, all
}

// waitGoroutines waits until at most want such goroutines run: the stream
// handlers and acceptors of idleConns end shortly after their streams.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, all := hostGoroutines()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines in host or yamux code, want at most %d:\n%s", n, want, all)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIdleConnGoroutines: an idle yamux connection costs yamux's two
// goroutines on each side and nothing of the host's; streams are accepted
// by goroutines that start with a SYN and end with the stream. It used to
// be three a side (a loop parked in AcceptStream), a sixth of an idle
// reservation's memory.
func TestIdleConnGoroutines(t *testing.T) {
	leakcheck.Check(t)
	srv := manyConnsHost(t)
	cli := newHost(t)
	const n = 8
	base, _ := hostGoroutines()
	conns := idleConns(t, srv, cli, n)
	waitGoroutines(t, base+2*2*n)

	// Idle connections still take streams, both ways, and go idle again.
	for _, c := range conns {
		echoOn(t, c, "/test/idle-echo/1")
	}
	waitGoroutines(t, base+2*2*n)

	// The session's end, not a goroutine, removes the connection.
	gone := make(chan identity.PeerID, 1)
	srv.OnPeerDisconnected(func(p identity.PeerID) { gone <- p })
	for _, c := range conns {
		c.Close()
	}
	select {
	case p := <-gone:
		if p != cli.ID() {
			t.Errorf("disconnected %s, want %s", p, cli.ID())
		}
	case <-ctx10(t).Done():
		t.Fatal("server never saw the peer leave")
	}
	if srv.NumPeers() != 0 || len(srv.ConnsToPeer(cli.ID())) != 0 {
		t.Errorf("server still holds %d connections", len(srv.ConnsToPeer(cli.ID())))
	}
}

// TestIdleConnHeap bounds the live heap of an idle connection, both ends
// together, after a stream each way: about 22.5 KiB now (25 KiB with a
// logger and a yamux config per connection), most of it yamux's 4 KiB read
// buffer and session on each end. The bound leaves room for noise between
// runs, not for another buffer kept per connection after the handshake.
// Skipped under -race, which adds its own memory.
func TestIdleConnHeap(t *testing.T) {
	if raceEnabled {
		t.Skip("heap figures are not meaningful under -race")
	}
	leakcheck.Check(t)
	srv := manyConnsHost(t)
	cli := newHost(t)
	const n = 128
	// One connection first, so one-off state (handlers, caches) is not
	// counted.
	idleConns(t, srv, cli, 1)
	base, _ := hostGoroutines()
	before := liveHeap()
	idleConns(t, srv, cli, n)
	waitGoroutines(t, base+2*2*n)
	per := (liveHeap() - before) / n
	t.Logf("live heap per idle connection, both ends: %d bytes", per)
	const limit = 28 << 10
	if per > limit {
		t.Errorf("live heap per idle connection (both ends) = %d bytes, want at most %d", per, limit)
	}
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// parkingHosts are manyConnsHost and a client host that both park
// connections idle for idle.
func parkingHosts(t *testing.T, idle time.Duration) (srv, cli *host.Host) {
	t.Helper()
	mk := func() *host.Host {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		h, err := host.New(host.Config{Key: k, ParkIdle: idle,
			ConnLimits: host.ConnLimits{MaxConns: -1, ConnRatePerIP: limiter.NoRate}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	srv, cli = mk(), mk()
	serveOn(t, srv, "/ip4/127.0.0.1/tcp/0")
	return srv, cli
}

// TestParkedConnCost: a parked connection costs one goroutine a side (its
// parked reader; each host also runs one sweeper) instead of yamux's two,
// and it still takes streams both ways.
func TestParkedConnCost(t *testing.T) {
	leakcheck.Check(t)
	srv, cli := parkingHosts(t, 50*time.Millisecond)
	const n = 8
	// One connection first, so the accept loop and sweepers are counted.
	idleConns(t, srv, cli, 1)
	waitAllParked(t, srv, cli)
	base, _ := hostGoroutines()
	conns := idleConns(t, srv, cli, n)
	waitAllParked(t, srv, cli)
	waitGoroutines(t, base+2*n)
	for _, c := range conns {
		echoOn(t, c, "/test/idle-echo/1")
	}
	waitAllParked(t, srv, cli)
	waitGoroutines(t, base+2*n)
}

// waitAllParked waits until every connection of cli and srv is parked.
func waitAllParked(t *testing.T, srv, cli *host.Host) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for _, c := range append(srv.ConnsToPeer(cli.ID()), cli.ConnsToPeer(srv.ID())...) {
			all = all && c.Parked()
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("connections never all parked")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestParkedConnHeap bounds the live heap of a parked connection, both
// ends together: about 10.5 KB, against about 23 KB running
// (TestIdleConnHeap); the yamux sessions and their read buffers are gone.
// Skipped under -race, which adds its own memory.
func TestParkedConnHeap(t *testing.T) {
	if raceEnabled {
		t.Skip("heap figures are not meaningful under -race")
	}
	leakcheck.Check(t)
	srv, cli := parkingHosts(t, 50*time.Millisecond)
	const n = 128
	idleConns(t, srv, cli, 1)
	waitAllParked(t, srv, cli)
	before := liveHeap()
	idleConns(t, srv, cli, n)
	waitAllParked(t, srv, cli)
	per := (liveHeap() - before) / n
	t.Logf("live heap per parked connection, both ends: %d bytes", per)
	const limit = 14 << 10
	if per > limit {
		t.Errorf("live heap per parked connection (both ends) = %d bytes, want at most %d", per, limit)
	}
}
