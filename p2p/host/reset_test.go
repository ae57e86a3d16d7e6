package host

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
)

func newTestHost(t *testing.T) *Host {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h, err := New(Config{Key: k, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// hostPair is a server host on 127.0.0.1 TCP and a client connected to it.
func hostPair(t *testing.T) (srv, cli *Host, conn *Conn) {
	t.Helper()
	srv, cli = newTestHost(t), newTestHost(t)
	addr, err := srv.Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	conn, err = cli.Dial(dctx, addr, srv.ID())
	if err != nil {
		t.Fatal(err)
	}
	return srv, cli, conn
}

func numStreams(c *Conn) int { return c.mux.(*yamuxConn).NumStreams() }

// waitUntil polls cond for at most d. The bounds below are far under
// yamux's 10 s StreamCloseTimeout, which is what they tell apart.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestYamuxResetIsRealAndFreesState: Reset puts an RST on the wire (the
// peer reads yamux's reset error, not EOF), both sessions drop the stream
// at once instead of after StreamCloseTimeout, and the connection carries
// on.
func TestYamuxResetIsRealAndFreesState(t *testing.T) {
	leakcheck.Check(t)
	for _, resetter := range []string{"handler", "opener"} {
		t.Run(resetter, func(t *testing.T) {
			srv, _, conn := hostPair(t)
			got := make(chan *Stream, 1)
			srv.Handle("/t/hold", func(s *Stream) {
				got <- s
				io.Copy(io.Discard, s)
				s.Reset()
			})
			s, err := conn.NewStream(t.Context(), "/t/hold")
			if err != nil {
				t.Fatal(err)
			}
			s.Write([]byte("x"))
			hs := <-got
			srvConn := hs.Conn()
			waitUntil(t, 5*time.Second, "streams open", func() bool { return numStreams(conn) == 1 && numStreams(srvConn) == 1 })
			resetSide, peerSide := hs, s
			if resetter == "opener" {
				resetSide, peerSide = s, hs
			}
			start := time.Now()
			resetSide.Reset()
			peerSide.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, peerSide)
			if !errors.Is(err, yamux.ErrConnectionReset) && !errors.Is(err, ErrStreamReset) {
				t.Fatalf("peer read after reset: %v, want a reset", err)
			}
			if _, err := resetSide.Write([]byte("y")); !errors.Is(err, ErrStreamReset) {
				t.Fatalf("write after Reset: %v", err)
			}
			waitUntil(t, time.Second, "stream state freed on both sides", func() bool { return numStreams(conn) == 0 && numStreams(srvConn) == 0 })
			t.Logf("state freed %v after Reset", time.Since(start))
			// The session is intact: a new stream works.
			srv.Handle("/t/echo", func(s *Stream) { defer s.Close(); io.Copy(s, s) })
			e, err := conn.NewStream(t.Context(), "/t/echo")
			if err != nil {
				t.Fatal(err)
			}
			e.SetDeadline(time.Now().Add(5 * time.Second))
			e.Write([]byte("after"))
			e.Close()
			if b, err := io.ReadAll(e); err != nil || string(b) != "after" {
				t.Fatalf("echo after reset: %q, %v", b, err)
			}
		})
	}
}

// TestYamuxCloseReadEndsPeerWrites: the data-cap ending on yamux. We
// write, half-close (the peer reads every byte, then EOF), then CloseRead:
// yamux has no STOP_SENDING, so with our write side closed it is an RST,
// and the peer's further writes fail at once.
func TestYamuxCloseReadEndsPeerWrites(t *testing.T) {
	leakcheck.Check(t)
	srv, _, conn := hostPair(t)
	srv.Handle("/t/cap", func(s *Stream) {
		s.Write(bytes.Repeat([]byte("a"), 1000))
		s.Close()
		// Wait until the peer has read our bytes: an RST drops what the
		// peer has not read yet (see doc.go).
		s.Read(make([]byte, 1))
		s.CloseRead()
	})
	s, err := conn.NewStream(t.Context(), "/t/cap")
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(s)
	if len(b) != 1000 || err != nil {
		t.Fatalf("read %d bytes, %v; want 1000, then EOF", len(b), err)
	}
	var werr error
	for werr == nil {
		_, werr = s.Write(make([]byte, 4096))
	}
	if !errors.Is(werr, yamux.ErrConnectionReset) {
		t.Fatalf("peer write after CloseRead: %v, want a reset", werr)
	}
}

// TestResetFloodSparesOtherStreams resets streams from both sides as fast
// as they open while other streams on the same connection carry data: the
// data arrives intact and the RSTs free all their state.
func TestResetFloodSparesOtherStreams(t *testing.T) {
	leakcheck.Check(t)
	srv, cli, conn := hostPair(t)
	srv.Handle("/t/echo", func(s *Stream) { defer s.Close(); io.Copy(s, s) })
	srv.Handle("/t/reset", func(s *Stream) {
		b := make([]byte, 1)
		s.Read(b)
		if b[0] == 's' {
			s.Reset()
			return
		}
		io.Copy(io.Discard, s)
		s.Close()
	})
	_ = cli
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 4 {
		wg.Go(func() {
			payload := make([]byte, 256<<10)
			rand.Read(payload)
			s, err := conn.NewStream(t.Context(), "/t/echo")
			if err != nil {
				errs <- err
				return
			}
			s.SetDeadline(time.Now().Add(20 * time.Second))
			go func() { s.Write(payload); s.Close() }()
			got, err := io.ReadAll(s)
			if err != nil || !bytes.Equal(got, payload) {
				errs <- errors.New("echo stream " + string(rune('0'+i)) + " damaged")
			}
		})
	}
	for i := range 200 {
		wg.Go(func() {
			s, err := conn.NewStream(t.Context(), "/t/reset")
			if err != nil {
				return // the server's stream limit: fine
			}
			side := []byte{'s', 'c'}[i%2]
			s.Write([]byte{side})
			if side == 'c' {
				s.Write(make([]byte, 1024))
				s.Reset()
				return
			}
			s.SetDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, s)
			s.Reset()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitUntil(t, 2*time.Second, "all stream state freed", func() bool { return numStreams(conn) == 0 })
}

// TestCoalescerFramesNeverInterleave is a property test: while yamux's
// send loop writes random frames (data headers held for their bodies),
// other goroutines queue RST and ping frames. The peer must parse exactly
// the send loop's frames, in order and intact, with whole queued frames
// only between them.
func TestCoalescerFramesNeverInterleave(t *testing.T) {
	leakcheck.Check(t)
	for seed := range uint64(6) {
		a, b := noisePair(t)
		w := &frameCoalescer{Conn: a}
		rng := mrand.New(mrand.NewPCG(seed, 1))
		var frames [][]byte
		for range 300 {
			var f []byte
			switch rng.IntN(3) {
			case 0:
				body := make([]byte, rng.IntN(70000))
				f = append(encodeYamux(make([]byte, 12), yamuxTypeData, 0, 7, uint32(len(body))), body...)
				for i := range body {
					f[12+i] = byte(i)
				}
			case 1:
				f = encodeYamux(make([]byte, 12), yamuxTypeWindowUpdate, 0, 7, uint32(rng.IntN(1000)))
			default:
				f = encodeYamux(make([]byte, 12), yamuxTypeData, 0x4, 9, 0)
			}
			frames = append(frames, f)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for _, f := range frames {
				w.Write(f[:12])
				if len(f) > 12 {
					w.Write(f[12:])
				}
			}
		})
		const resets = 200
		for g := range 4 {
			wg.Go(func() {
				for i := range resets / 4 {
					w.resetStream(uint32(1000 + g*100 + i))
				}
			})
		}
		var own, injectedPings int
		b.SetReadDeadline(time.Now().Add(20 * time.Second))
		for own < len(frames) || injectedPings < resets {
			h := make([]byte, 12)
			if _, err := io.ReadFull(b, h); err != nil {
				t.Fatalf("seed %d: after %d frames: %v", seed, own, err)
			}
			id := binary.BigEndian.Uint32(h[4:])
			switch {
			case h[1] == yamuxTypeWindowUpdate && binary.BigEndian.Uint16(h[2:]) == yamuxFlagRST:
				if id < 1000 || id >= 1400 {
					t.Fatalf("seed %d: RST for stream %d", seed, id)
				}
			case h[1] == yamuxTypePing:
				injectedPings++
			default:
				want := frames[own]
				got := h
				if h[1] == yamuxTypeData {
					body := make([]byte, binary.BigEndian.Uint32(h[8:]))
					if _, err := io.ReadFull(b, body); err != nil {
						t.Fatal(err)
					}
					got = append(h, body...)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("seed %d: frame %d damaged", seed, own)
				}
				own++
			}
		}
		wg.Wait()
	}
}

// TestCoalescerReadInjectsBetweenFrames: frames queued for our own yamux
// are handed over only at frame boundaries, however the peer's bytes are
// split, and the answers to our pings never reach yamux.
func TestCoalescerReadInjectsBetweenFrames(t *testing.T) {
	leakcheck.Check(t)
	a, b := noisePair(t)
	r := &frameCoalescer{Conn: b}
	var stream []byte
	var want [][]byte
	for i := range 200 {
		var f []byte
		switch i % 3 {
		case 0:
			body := bytes.Repeat([]byte{byte(i)}, i*37)
			f = append(encodeYamux(make([]byte, 12), yamuxTypeData, 0, 3, uint32(len(body))), body...)
		case 1:
			f = encodeYamux(make([]byte, 12), yamuxTypeWindowUpdate, 0, 3, uint32(i))
		default:
			// The answer to one of our pings: swallowed.
			stream = append(stream, encodeYamux(make([]byte, 12), yamuxTypePing, yamuxFlagACK, 0, ourPing|uint32(i))...)
			f = encodeYamux(make([]byte, 12), yamuxTypePing, yamuxFlagACK, 0, uint32(i))
		}
		want = append(want, f)
		stream = append(stream, f...)
	}
	go func() {
		rng := mrand.New(mrand.NewPCG(1, 2))
		for len(stream) > 0 {
			n := min(len(stream), 1+rng.IntN(50))
			a.Write(stream[:n])
			stream = stream[n:]
		}
	}()
	br := io.Reader(r)
	var got int
	var injected int
	for i := 0; got < len(want); i++ {
		if i%10 == 0 {
			r.inject(encodeYamux(make([]byte, 12), yamuxTypeWindowUpdate, yamuxFlagRST, 99, 0))
		}
		h := make([]byte, 12)
		if _, err := io.ReadFull(br, h); err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint32(h[4:]) == 99 {
			injected++
			continue
		}
		f := h
		if h[1] == yamuxTypeData {
			body := make([]byte, binary.BigEndian.Uint32(h[8:]))
			if _, err := io.ReadFull(br, body); err != nil {
				t.Fatal(err)
			}
			f = append(h, body...)
		}
		if !bytes.Equal(f, want[got]) {
			t.Fatalf("frame %d: got %x, want %x", got, f[:12], want[got][:12])
		}
		got++
	}
	if injected == 0 {
		t.Fatal("no injected frame was handed over")
	}
}
