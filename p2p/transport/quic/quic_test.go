package quic

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	quicgo "github.com/quic-go/quic-go"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/identity"
	p2ptls "github.com/relayd/relayd/p2p/tls"
	"github.com/relayd/relayd/p2p/transport"
)

// recorder is a transport.Tracer that remembers what it was told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) ConnRefused(tr, reason string)    { r.add(tr + " refused " + reason) }
func (r *recorder) HandshakeFailed(tr, stage string) { r.add(tr + " failed " + stage) }
func (r *recorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// waitEvent waits (bounded) until e was recorded.
func (r *recorder) waitEvent(t *testing.T, e string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, got := range r.events {
			if got == e {
				r.mu.Unlock()
				return
			}
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("event %q not recorded; got %v", e, r.events)
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTransport(t testing.TB, key ed25519.PrivateKey) *Transport {
	t.Helper()
	tr, err := New(Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

type server struct {
	key   ed25519.PrivateKey
	tr    *Transport
	l     transport.Listener
	rec   *recorder
	conns chan transport.SecureConn
}

// newServer listens on 127.0.0.1 and accepts into a channel until the
// test ends.
func newServer(t *testing.T, maxHandshakes int) *server {
	t.Helper()
	s := &server{key: newKey(t), rec: &recorder{}, conns: make(chan transport.SecureConn, 16)}
	s.tr = newTransport(t, s.key)
	l, err := s.tr.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1"), transport.ListenConfig{
		HandshakeTimeout: 5 * time.Second,
		MaxHandshakes:    maxHandshakes,
		Tracer:           s.rec,
		Logger:           slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.l = l
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.conns <- c.(transport.SecureConn)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return s
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (s *server) accept(t *testing.T) transport.SecureConn {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

func dial(t *testing.T, s *server, remote identity.PeerID) (transport.SecureConn, identity.PeerID) {
	t.Helper()
	key := newKey(t)
	c, err := newTransport(t, key).Dial(ctx10(t), s.l.Multiaddr(), remote)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(transport.SecureConn), identity.PeerIDOf(key)
}

func TestDialAcceptAndStreams(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, 16)
	cc, cid := dial(t, s, identity.PeerIDOf(s.key))
	sc := s.accept(t)

	if cc.RemotePeer() != identity.PeerIDOf(s.key) || sc.RemotePeer() != cid {
		t.Fatalf("peers: client sees %s, server sees %s", cc.RemotePeer(), sc.RemotePeer())
	}
	if !sc.RemoteMultiaddr().Equal(cc.LocalMultiaddr()) {
		t.Fatalf("server observes %s, client is at %s", sc.RemoteMultiaddr(), cc.LocalMultiaddr())
	}
	if transport.Label(sc.RemoteMultiaddr()) != "quic" || !s.l.Multiaddr().Equal(sc.LocalMultiaddr()) {
		t.Fatalf("addresses: remote %s local %s listener %s", sc.RemoteMultiaddr(), sc.LocalMultiaddr(), s.l.Multiaddr())
	}
	if sc.HandshakeStarted().IsZero() || time.Since(sc.HandshakeStarted()) > time.Minute {
		t.Fatalf("handshake start %v", sc.HandshakeStarted())
	}

	// A client stream, echoed by the server, with FIN both ways.
	done := make(chan error, 1)
	go func() {
		st, err := sc.AcceptStream()
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(st, st)
		st.Close()
		done <- err
	}()
	st, err := cc.OpenStream(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	msg := bytes.Repeat([]byte("relay"), 100_000)
	go func() { st.Write(msg); st.Close() }()
	got, err := io.ReadAll(st)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %d bytes, err %v", len(got), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestResetReachesPeer(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, 16)
	cc, _ := dial(t, s, "")
	sc := s.accept(t)
	st, err := cc.OpenStream(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte("x"))
	peer, err := sc.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	st.Reset()
	peer.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, peer)
	var se *quicgo.StreamError
	if !errors.As(err, &se) {
		t.Fatalf("peer read err = %v, want a stream reset", err)
	}
}

func TestDialWrongPeerFails(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, 16)
	_, err := newTransport(t, newKey(t)).Dial(ctx10(t), s.l.Multiaddr(), identity.PeerIDOf(newKey(t)))
	if err == nil {
		t.Fatal("dial to the wrong peer succeeded")
	}
}

// rawDial dials the listener with a hand-made TLS config.
func rawDial(t *testing.T, s *server, conf *tls.Config, probe time.Duration) error {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	qt := &quicgo.Transport{Conn: udp}
	defer func() { qt.Close(); udp.Close() }()
	_, laddr, _ := udpAddr(s.l.Multiaddr())
	qc, err := qt.Dial(ctx10(t), laddr, conf, &quicgo.Config{HandshakeIdleTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer qc.CloseWithError(0, "")
	// TLS 1.3: the client is done before the server checked its
	// certificate; a stream shows whether the server kept the connection.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	st.Write([]byte("x"))
	st.SetReadDeadline(time.Now().Add(probe))
	_, err = st.Read(make([]byte, 1))
	return err
}

func TestBadHandshakesRefusedAndListenerServes(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, 16)
	id, err := p2ptls.NewIdentity(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		conf  func() *tls.Config
		event string
	}{
		{"wrong ALPN", func() *tls.Config {
			c, _ := id.ConfigForPeer("")
			c.NextProtos = []string{"h3"}
			return c
		}, "quic failed tls"},
		{"certificate without libp2p extension", func() *tls.Config {
			c, _ := id.ConfigForPeer("")
			c.Certificates = []tls.Certificate{plainCert(t)}
			return c
		}, "quic failed tls"},
		{"no client certificate", func() *tls.Config {
			c, _ := id.ConfigForPeer("")
			c.Certificates = nil
			return c
		}, "quic failed tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := rawDial(t, s, tt.conf(), 5*time.Second); err == nil {
				t.Fatal("bad handshake was served")
			}
			s.rec.waitEvent(t, tt.event)
			// The listener still serves good clients.
			dial(t, s, identity.PeerIDOf(s.key))
			s.accept(t)
		})
	}
}

// plainCert is an ordinary self-signed certificate, no libp2p extension.
func plainCert(t *testing.T) tls.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "not libp2p"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

func TestHandshakeLimit(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, 1)
	// The first client stalls inside its handshake: the server waits for
	// its certificate, holding the only slot.
	id, _ := p2ptls.NewIdentity(newKey(t))
	conf, _ := id.ConfigForPeer("")
	release := make(chan struct{})
	conf.Certificates = nil
	own := id.Certificate()
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		<-release
		return &own, nil
	}
	stalled := make(chan error, 1)
	go func() { stalled <- rawDial(t, s, conf, 100*time.Millisecond) }()
	s.waitHandshakes(t, 1)

	_, err := newTransport(t, newKey(t)).Dial(ctx10(t), s.l.Multiaddr(), "")
	var te *quicgo.TransportError
	if !errors.As(err, &te) || te.ErrorCode != quicgo.ConnectionRefused {
		t.Fatalf("second dial err = %v, want CONNECTION_REFUSED", err)
	}
	s.rec.waitEvent(t, "quic refused handshake_limit")

	close(release)
	if err := <-stalled; err != nil && !isStreamTimeout(err) {
		t.Fatalf("stalled client: %v", err)
	}
	s.accept(t)
	dial(t, s, "") // the slot is free again
	s.accept(t)
}

// isStreamTimeout: rawDial's probe read times out when the server
// accepted the connection but nobody echoes.
func isStreamTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitHandshakes waits until n handshakes hold a slot.
func (s *server) waitHandshakes(t *testing.T, n int) {
	t.Helper()
	l := s.l.(*listener)
	deadline := time.Now().Add(10 * time.Second)
	for len(l.slots) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d handshakes in flight, want %d", len(l.slots), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestListenerCloseKeepsConnections(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, 16)
	cc, _ := dial(t, s, "")
	sc := s.accept(t)
	s.l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := newTransport(t, newKey(t)).Dial(ctx, s.l.Multiaddr(), ""); err == nil {
		t.Fatal("dial after listener close succeeded")
	}
	go func() {
		if st, err := sc.AcceptStream(); err == nil {
			io.Copy(st, st)
			st.Close()
		}
	}()
	st, err := cc.OpenStream(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	st.Write([]byte("ping"))
	st.Close()
	if got, err := io.ReadAll(st); err != nil || string(got) != "ping" {
		t.Fatalf("established connection broken: %q %v", got, err)
	}
	s.tr.Close()
	select {
	case <-sc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("transport close left the connection up")
	}
}

func TestHandles(t *testing.T) {
	tr := &Transport{}
	for addr, want := range map[string]bool{
		"/ip4/1.2.3.4/udp/1/quic-v1":              true,
		"/ip6/::1/udp/1/quic-v1":                  true,
		"/ip4/1.2.3.4/udp/1/quic":                 false,
		"/ip4/1.2.3.4/tcp/1":                      false,
		"/dns4/example.com/udp/1/quic-v1":         false,
		"/ip4/1.2.3.4/udp/1/quic-v1/webtransport": false,
	} {
		if got := tr.Handles(ma.StringCast(addr)); got != want {
			t.Errorf("Handles(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestListenBindErrorNamesAddress(t *testing.T) {
	leakcheck.Check(t)
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tr := newTransport(t, newKey(t))
	addr := ma.StringCast("/ip4/127.0.0.1/udp/" + itoa(udp.LocalAddr().(*net.UDPAddr).Port) + "/quic-v1")
	if _, err := tr.Listen(addr, transport.ListenConfig{MaxHandshakes: 1, Tracer: &recorder{}, Logger: slog.New(slog.DiscardHandler)}); err == nil {
		t.Fatal("listen on a bound port succeeded")
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// TestDialAfterClose: a Dial after Close (or racing it) fails with
// net.ErrClosed instead of writing to the dropped socket map.
func TestDialAfterClose(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, 16)
	for range 20 {
		tr, err := New(Config{Key: newKey(t)})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			c, err := tr.Dial(ctx10(t), s.l.Multiaddr(), "")
			if err == nil {
				c.Close()
			}
			done <- err
		}()
		tr.Close()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "closed") {
			t.Errorf("dial racing Close: %v", err)
		}
		if _, err := tr.Dial(ctx10(t), s.l.Multiaddr(), ""); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("dial after Close: %v, want net.ErrClosed", err)
		}
	}
}
