package host_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/noise"
)

func newHost(t *testing.T) *host.Host {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h, err := host.New(host.Config{Key: k, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// serveHost listens on 127.0.0.1:0 and serves until the test ends.
func serveHost(t *testing.T) (*host.Host, ma.Multiaddr) {
	t.Helper()
	h := newHost(t)
	addr, err := h.Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h, addr
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDialAndStreamsBothWays(t *testing.T) {
	leakcheck.Check(t)
	srv, addr := serveHost(t)
	cli := newHost(t)
	const proto = "/test/echo/1"
	echo := func(s *host.Stream) { defer s.Close(); io.Copy(s, s) }
	srv.Handle(proto, echo)
	cli.Handle(proto, echo)
	c, err := cli.Dial(ctx10(t), addr, srv.ID())
	if err != nil {
		t.Fatal(err)
	}
	if c.RemotePeer() != srv.ID() {
		t.Fatalf("remote peer %s", c.RemotePeer())
	}
	// Client → server, then server → client over the same connection.
	roundTrip(t, cli, srv.ID(), proto)
	waitFor(t, func() bool { return len(srv.ConnsToPeer(cli.ID())) == 1 })
	roundTrip(t, srv, cli.ID(), proto)
}

func roundTrip(t *testing.T, from *host.Host, to identity.PeerID, proto string) {
	t.Helper()
	s, err := from.NewStream(ctx10(t), to, proto)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	s.Write([]byte("ping"))
	s.Close()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "ping" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDialWrongPeerFails(t *testing.T) {
	leakcheck.Check(t)
	_, addr := serveHost(t)
	cli := newHost(t)
	other := newHost(t)
	_, err := cli.Dial(ctx10(t), addr, other.ID())
	if !errors.Is(err, noise.ErrPeerIDMismatch) {
		t.Fatalf("dial to the wrong peer ID: %v, want ErrPeerIDMismatch", err)
	}
}

func TestNewStreamNeverDials(t *testing.T) {
	leakcheck.Check(t)
	h := newHost(t)
	other := newHost(t)
	_, err := h.NewStream(ctx10(t), other.ID(), "/x")
	if !errors.Is(err, host.ErrNoConnection) {
		t.Fatalf("err = %v, want ErrNoConnection", err)
	}
}

func TestUnknownProtocolRefused(t *testing.T) {
	leakcheck.Check(t)
	srv, addr := serveHost(t)
	cli := newHost(t)
	if _, err := cli.Dial(ctx10(t), addr, srv.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.NewStream(ctx10(t), srv.ID(), "/not/spoken"); err == nil {
		t.Fatal("negotiating an unknown protocol succeeded")
	}
}

func TestDisconnectNotifiesOnLastConn(t *testing.T) {
	leakcheck.Check(t)
	srv, addr := serveHost(t)
	gone := make(chan identity.PeerID, 2)
	srv.OnPeerDisconnected(func(p identity.PeerID) { gone <- p })
	cli := newHost(t)
	c1, err := cli.Dial(ctx10(t), addr, srv.ID())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := cli.Dial(ctx10(t), addr, srv.ID())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(srv.ConnsToPeer(cli.ID())) == 2 })
	c1.Close()
	waitFor(t, func() bool { return len(srv.ConnsToPeer(cli.ID())) == 1 })
	select {
	case <-gone:
		t.Fatal("notified while a connection remains")
	default:
	}
	c2.Close()
	select {
	case p := <-gone:
		if p != cli.ID() {
			t.Fatalf("notified for %s", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after the last connection closed")
	}
}

// TestCloseRacesDialAndAccept closes a host while it is accepting inbound
// connections, dialing out and starting stream handlers: every goroutine
// the host started is joined (leakcheck) and no wg.Add races wg.Wait (run
// with -race -count=20).
func TestCloseRacesDialAndAccept(t *testing.T) {
	leakcheck.Check(t)
	h, addr := serveHost(t)
	h.Handle("/t/sink", func(s *host.Stream) { io.Copy(io.Discard, s); s.Close() })
	_, other := serveHost(t)
	_ = other
	peerHost, peerAddr := serveHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var n int
	for range 4 {
		n++
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				c := newHost(t)
				if _, err := c.Dial(ctx, addr, h.ID()); err == nil {
					if s, err := c.NewStream(ctx, h.ID(), "/t/sink"); err == nil {
						s.Write([]byte("x"))
						s.Close()
					}
				}
				c.Close()
			}
		}()
		n++
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				if _, err := h.Dial(ctx, peerAddr, peerHost.ID()); errors.Is(err, host.ErrClosed) {
					return
				}
			}
		}()
	}
	waitFor(t, func() bool { return h.NumPeers() > 0 })
	h.Close()
	if _, err := h.Dial(ctx10(t), peerAddr, peerHost.ID()); !errors.Is(err, host.ErrClosed) {
		t.Errorf("Dial after Close: %v, want ErrClosed", err)
	}
	cancel()
	for range n {
		<-done
	}
}
