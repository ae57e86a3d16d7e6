package noise

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/identity"
)

func TestHandshakeTransports(t *testing.T) {
	for _, tc := range []struct {
		name string
		// conns returns (client side, server side).
		conns func(t *testing.T) (net.Conn, net.Conn)
	}{
		{"pipe", func(t *testing.T) (net.Conn, net.Conn) { return pipePair(t) }},
		{"tcp dialer is client", func(t *testing.T) (net.Conn, net.Conn) { return tcpPair(t) }},
		{"tcp dialer is server", func(t *testing.T) (net.Conn, net.Conn) {
			d, a := tcpPair(t)
			return a, d
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			cc, sc := tc.conns(t)
			ck, sk := newKey(t), newKey(t)
			r := handshakePair(t, cc, sc, side{key: ck}, side{key: sk}, identity.PeerIDOf(sk))
			if r.clientErr != nil || r.serverErr != nil {
				t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
			}
			if r.client.RemotePeer() != identity.PeerIDOf(sk) || r.server.RemotePeer() != identity.PeerIDOf(ck) {
				t.Fatal("wrong remote peers")
			}
			if identity.IDFromPublicKey(r.server.RemotePublicKey()) != identity.PeerIDOf(ck) {
				t.Fatal("RemotePublicKey does not match RemotePeer")
			}
			if r.client.LocalAddr() != cc.LocalAddr() || r.client.RemoteAddr() != cc.RemoteAddr() {
				t.Fatal("addresses do not pass through")
			}
			exchange(t, r.client, r.server, []byte("ping"))
			exchange(t, r.server, r.client, []byte("pong"))
		})
	}
}

// exchange writes msg on a and reads it back on b.
func exchange(t *testing.T, a, b *Conn, msg []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := a.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %q, want %q", got, msg)
	}
}

func TestClientAcceptsAnyPeer(t *testing.T) {
	leakcheck.Check(t)
	cc, sc := pipePair(t)
	sk := newKey(t)
	r := handshakePair(t, cc, sc, side{key: newKey(t)}, side{key: sk}, "")
	if r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
	}
	if r.client.RemotePeer() != identity.PeerIDOf(sk) {
		t.Fatal("wrong remote peer")
	}
}

func TestClientRejectsWrongPeer(t *testing.T) {
	leakcheck.Check(t)
	cc, sc := pipePair(t)
	r := handshakePair(t, cc, sc, side{key: newKey(t)}, side{key: newKey(t)}, identity.PeerIDOf(newKey(t)))
	if !errors.Is(r.clientErr, ErrPeerIDMismatch) || !errors.Is(r.clientErr, ErrHandshake) {
		t.Fatalf("client: %v", r.clientErr)
	}
	if r.serverErr == nil {
		t.Fatal("server completed a handshake the client abandoned")
	}
}

func TestMuxerNegotiation(t *testing.T) {
	const yamux, mplex = "/yamux/1.0.0", "/mplex/6.7.0"
	for _, tc := range []struct {
		name           string
		client, server []string
		want           string
		fail           bool
	}{
		{"both list, client order wins", []string{yamux, mplex}, []string{mplex, yamux}, yamux, false},
		{"single overlap", []string{"/other", mplex}, []string{mplex}, mplex, false},
		{"client empty", nil, []string{yamux}, "", false},
		{"server empty", []string{yamux}, nil, "", false},
		{"both empty", nil, nil, "", false},
		{"no overlap", []string{yamux}, []string{mplex}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			cc, sc := pipePair(t)
			r := handshakePair(t, cc, sc, side{newKey(t), tc.client}, side{newKey(t), tc.server}, "")
			if tc.fail {
				if !errors.Is(r.clientErr, ErrNoMuxerOverlap) || r.serverErr == nil {
					t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
				}
				return
			}
			if r.clientErr != nil || r.serverErr != nil {
				t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
			}
			if r.client.Muxer() != tc.want || r.server.Muxer() != tc.want {
				t.Fatalf("client %q, server %q, want %q", r.client.Muxer(), r.server.Muxer(), tc.want)
			}
		})
	}
}

// The server sees the no-overlap failure itself when a client sends message
// 3 regardless (as a client that ignores the responder's list would).
func TestServerRejectsNoMuxerOverlap(t *testing.T) {
	leakcheck.Check(t)
	cc, sc := pipePair(t)
	ck := newKey(t)
	go rawInitiator(cc, func(static []byte) []byte {
		return signedPayload(ck, static, []string{"/mplex/6.7.0"}).append(nil)
	})
	_, err := Server(testCtx(t, testTimeout), sc, newKey(t), []string{"/yamux/1.0.0"})
	if !errors.Is(err, ErrNoMuxerOverlap) {
		t.Fatalf("got %v", err)
	}
}

// Our handshake and framing against flynn's stock ChaChaPoly.
func TestInteropWithStockFlynn(t *testing.T) {
	leakcheck.Check(t)
	t.Run("server", func(t *testing.T) {
		cc, sc := pipePair(t)
		ck := newKey(t)
		type res struct {
			enc interface {
				Encrypt(out, ad, pt []byte) ([]byte, error)
			}
			err error
		}
		resc := make(chan res, 1)
		go func() {
			enc, _, err := rawInitiator(cc, func(static []byte) []byte {
				return signedPayload(ck, static, []string{"/yamux/1.0.0"}).append(nil)
			})
			resc <- res{enc, err}
		}()
		s, err := Server(testCtx(t, testTimeout), sc, newKey(t), []string{"/yamux/1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		r := <-resc
		if r.err != nil {
			t.Fatal(r.err)
		}
		if s.RemotePeer() != identity.PeerIDOf(ck) || s.Muxer() != "/yamux/1.0.0" {
			t.Fatalf("peer %s muxer %q", s.RemotePeer(), s.Muxer())
		}
		frame, _ := r.enc.Encrypt(nil, nil, []byte("hello"))
		go writeRawFrame(cc, frame)
		got := make([]byte, 5)
		if _, err := io.ReadFull(s, got); err != nil || string(got) != "hello" {
			t.Fatalf("read %q, %v", got, err)
		}
	})
	t.Run("client", func(t *testing.T) {
		cc, sc := pipePair(t)
		sk := newKey(t)
		errc := make(chan error, 1)
		var decrypted []byte
		go func() {
			_, dec, err := rawResponder(sc, func(static []byte) []byte {
				return signedPayload(sk, static, nil).append(nil)
			})
			if err == nil {
				var frame []byte
				if frame, err = readRawFrame(sc); err == nil {
					decrypted, err = dec.Decrypt(nil, nil, frame)
				}
			}
			errc <- err
		}()
		c, err := Client(testCtx(t, testTimeout), cc, newKey(t), identity.PeerIDOf(sk), []string{"/yamux/1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Muxer() != "" {
			t.Fatalf("muxer %q though the server listed none", c.Muxer())
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil || string(decrypted) != "hello" {
			t.Fatalf("raw responder read %q, %v", decrypted, err)
		}
	})
}

// badPayloads are message payloads a malicious or broken peer might send.
func badPayloads(t *testing.T) map[string]func(static []byte) []byte {
	key, other := newKey(t), newKey(t)
	otherPub := identity.Ed25519PublicKey(other.Public().(ed25519.PublicKey)).Marshal()
	return map[string]func([]byte) []byte{
		"bad signature": func(static []byte) []byte {
			p := signedPayload(key, static, nil)
			p.identitySig[0] ^= 1
			return p.append(nil)
		},
		"signature over another static key": func(static []byte) []byte {
			return signedPayload(key, make([]byte, len(static)), nil).append(nil)
		},
		"wrong key in payload": func(static []byte) []byte {
			p := signedPayload(key, static, nil)
			p.identityKey = otherPub
			return p.append(nil)
		},
		"no identity key": func(static []byte) []byte {
			p := signedPayload(key, static, nil)
			p.identityKey = nil
			return p.append(nil)
		},
		"no signature": func(static []byte) []byte {
			p := signedPayload(key, static, nil)
			p.identitySig = nil
			return p.append(nil)
		},
		"garbage payload": func([]byte) []byte { return []byte{0xff, 0xff, 0xff} },
	}
}

func TestServerRejectsBadPayloads(t *testing.T) {
	for name, craft := range badPayloads(t) {
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			cc, sc := pipePair(t)
			go rawInitiator(cc, craft)
			_, err := Server(testCtx(t, testTimeout), sc, newKey(t), nil)
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestClientRejectsBadPayloads(t *testing.T) {
	for name, craft := range badPayloads(t) {
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			cc, sc := pipePair(t)
			go func() {
				rawResponder(sc, craft)
				sc.Close()
			}()
			_, err := Client(testCtx(t, testTimeout), cc, newKey(t), "", nil)
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// Raw byte streams a broken client might send; the server must fail, not
// hang, and within the context deadline.
func TestServerBrokenStreams(t *testing.T) {
	e := make([]byte, 32)
	rand.Read(e)
	garbage := make([]byte, 300)
	rand.Read(garbage)
	frame := func(b []byte) []byte {
		var buf bytes.Buffer
		writeRawFrame(&buf, b)
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name  string
		input []byte
		hold  bool // keep the conn open after writing (peer stalls)
	}{
		{"empty", nil, false},
		{"half a length", []byte{0x00}, false},
		{"truncated message 1", frame(e)[:20], false},
		{"short message 1", frame(e[:16]), false},
		{"oversized length", []byte{0xff, 0xff}, false},
		{"garbage message 3", append(frame(e), frame(garbage)...), false},
		{"random bytes", garbage, false},
		{"stall before message 1", nil, true},
		{"stall inside message 1", frame(e)[:10], true},
		{"stall before message 3", frame(e), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			cc, sc := pipePair(t)
			go io.Copy(io.Discard, cc) // swallow message 2
			go func() {
				cc.Write(tc.input)
				if !tc.hold {
					cc.Close()
				}
			}()
			const budget = 300 * time.Millisecond
			start := time.Now()
			_, err := Server(testCtx(t, budget), sc, newKey(t), nil)
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("got %v", err)
			}
			if tc.hold && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("stalled peer: %v, want context.DeadlineExceeded", err)
			}
			if took := time.Since(start); took > budget+2*time.Second {
				t.Fatalf("took %v", took)
			}
		})
	}
}

func TestHandshakeCancel(t *testing.T) {
	leakcheck.Check(t)
	cc, sc := pipePair(t)
	_ = cc // never speaks
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Client(ctx, sc, newKey(t), "", nil)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrHandshake) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("handshake ignored cancellation")
	}
}

func TestHandshakeAlreadyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cc, _ := pipePair(t)
	if _, err := Client(ctx, cc, newKey(t), "", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestHandshakeClearsDeadline(t *testing.T) {
	leakcheck.Check(t)
	cc, sc := tcpPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var serverErr error
	var s *Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, serverErr = Server(ctx, sc, newKey(t), nil)
	}()
	c, err := Client(ctx, cc, newKey(t), "", nil)
	<-done
	if err != nil || serverErr != nil {
		t.Fatalf("client %v, server %v", err, serverErr)
	}
	cancel() // must not disturb the established connection
	s.SetReadDeadline(time.Now().Add(testTimeout))
	exchange(t, c, s, []byte("still alive"))
}

func TestInvalidIdentityKey(t *testing.T) {
	cc, _ := pipePair(t)
	if _, err := Client(context.Background(), cc, ed25519.PrivateKey{1, 2, 3}, "", nil); !errors.Is(err, ErrHandshake) {
		t.Fatalf("got %v", err)
	}
}

func FuzzServerHandshake(f *testing.F) {
	e := make([]byte, 32)
	f.Add([]byte{})
	f.Add(append([]byte{0x00, 0x20}, e...))
	f.Add(append(append([]byte{0x00, 0x20}, e...), 0x00, 0x40))
	f.Add([]byte{0xff, 0xff, 0x00})
	key, err := identity.GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cc, sc := net.Pipe()
		defer sc.Close()
		go io.Copy(io.Discard, cc)
		go func() {
			cc.Write(in)
			cc.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if c, err := Server(ctx, sc, key, []string{"/yamux/1.0.0"}); err == nil {
			t.Fatalf("handshake with %x succeeded with %s", in, c.RemotePeer())
		}
		if ctx.Err() != nil {
			t.Fatalf("input %x ran into the deadline instead of failing", in)
		}
	})
}

// TestIdentityServesManyHandshakes: one Identity (one static key) serves
// handshakes with different clients, each authenticated separately.
func TestIdentityServesManyHandshakes(t *testing.T) {
	leakcheck.Check(t)
	server, err := NewIdentity(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		cc, sc := pipePair(t)
		ckey := newKey(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got := make(chan *Conn, 1)
		go func() {
			c, err := server.Server(ctx, sc, nil)
			if err != nil {
				t.Error(err)
			}
			got <- c
		}()
		c, err := Client(ctx, cc, ckey, identity.PeerIDOf(server.key), nil)
		s := <-got
		cancel()
		if err != nil || s == nil {
			t.Fatalf("handshake %d: %v", i, err)
		}
		if s.RemotePeer() != identity.PeerIDOf(ckey) {
			t.Fatalf("handshake %d: server sees %s", i, s.RemotePeer())
		}
		c.Close()
		s.Close()
	}
}
