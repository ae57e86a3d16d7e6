package ws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/ws/wstest"
)

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

type server struct {
	l     transport.Listener
	rec   *recorder
	conns chan *Conn
	cert  wstest.Cert
}

func newServer(t *testing.T, addr string, cfg Config, maxHandshakes int) *server {
	t.Helper()
	s := &server{rec: &recorder{}, conns: make(chan *Conn, 16), cert: wstest.New(t)}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = s.cert.ServerConfig()
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tr.Listen(ma.StringCast(addr), transport.ListenConfig{
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
			s.conns <- c.(*Conn)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return s
}

func (s *server) accept(t *testing.T) *Conn {
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

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (s *server) dial(t *testing.T, addr ma.Multiaddr) *Conn {
	t.Helper()
	tr, err := New(Config{ClientTLSConfig: s.cert.Client})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tr.Dial(ctx10(t), addr, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*Conn)
}

// port is the listener's TCP port as text.
func (s *server) port() string {
	p, _ := s.l.Multiaddr().ValueForProtocol(ma.P_TCP)
	return p
}

func TestDialAcceptEcho(t *testing.T) {
	tests := []struct {
		name, listen, dial     string // dial: %p is the port
		cfg                    Config
		wantListen, wantRemote string
	}{
		{"ws", "/ip4/127.0.0.1/tcp/0/ws", "/ip4/127.0.0.1/tcp/%p/ws", Config{}, "/ws", "/ws"},
		{"wss", "/ip4/127.0.0.1/tcp/0/wss", "/ip4/127.0.0.1/tcp/%p/wss", Config{}, "/wss", "/wss"},
		{"tls/ws", "/ip4/127.0.0.1/tcp/0/tls/ws", "/ip4/127.0.0.1/tcp/%p/tls/ws", Config{}, "/wss", "/wss"},
		{"tls/sni", "/ip4/127.0.0.1/tcp/0/wss", "/ip4/127.0.0.1/tcp/%p/tls/sni/localhost/ws", Config{}, "/wss", "/wss"},
		{"dns", "/ip4/127.0.0.1/tcp/0/wss", "/dns4/localhost/tcp/%p/wss", Config{}, "/wss", "/wss"},
		{"path", "/ip4/127.0.0.1/tcp/0/ws", "/ip4/127.0.0.1/tcp/%p/ws/http-path/p2p%2Fws", Config{Path: "/p2p/ws"}, "/ws/http-path/p2p%2Fws", "/ws"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			s := newServer(t, tt.listen, tt.cfg, 16)
			if got := s.l.Multiaddr().String(); !strings.HasSuffix(got, tt.wantListen) {
				t.Fatalf("listener %s, want suffix %s", got, tt.wantListen)
			}
			cc := s.dial(t, ma.StringCast(strings.ReplaceAll(tt.dial, "%p", s.port())))
			sc := s.accept(t)
			if got := sc.RemoteMultiaddr(); !strings.HasSuffix(got.String(), tt.wantRemote) ||
				!manetEqualTCP(got, cc.LocalMultiaddr()) {
				t.Fatalf("server observes %s, client is %s", got, cc.LocalMultiaddr())
			}
			echoOver(t, cc, sc, 300_000)
		})
	}
}

// manetEqualTCP compares the ip/tcp part of two addresses.
func manetEqualTCP(a, b ma.Multiaddr) bool { return a[:2].Equal(b[:2]) }

// echoOver sends n bytes from a to b, which echoes them back.
func echoOver(t *testing.T, a, b net.Conn, n int) {
	t.Helper()
	a.SetDeadline(time.Now().Add(10 * time.Second))
	b.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { io.CopyN(b, b, int64(n)) }()
	msg := bytes.Repeat([]byte{7, 1, 9}, n/3)
	go a.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(a, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %v", err)
	}
}

// rawClient is a gorilla client on the listener, for sending what our
// Conn never would.
func rawClient(t *testing.T, s *server) *websocket.Conn {
	t.Helper()
	return rawClientScheme(t, s, "ws")
}

func TestMessagesReadAsOneStream(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, "/ip4/127.0.0.1/tcp/0/ws", Config{}, 16)
	wc := rawClient(t, s)
	sc := s.accept(t)
	for _, m := range []string{"he", "", "llo", "", " world"} {
		wc.WriteMessage(websocket.BinaryMessage, []byte(m))
	}
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len("hello world"))
	if _, err := io.ReadFull(sc, got); err != nil || string(got) != "hello world" {
		t.Fatalf("read %q, %v", got, err)
	}
	// Each Write is one binary message.
	sc.Write([]byte("abc"))
	sc.Write([]byte("defg"))
	wc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"abc", "defg"} {
		mt, b, err := wc.ReadMessage()
		if err != nil || mt != websocket.BinaryMessage || string(b) != want {
			t.Fatalf("message %d %q %v, want binary %q", mt, b, err, want)
		}
	}
}

func TestTextMessageClosesConnection(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, "/ip4/127.0.0.1/tcp/0/ws", Config{}, 16)
	wc := rawClient(t, s)
	sc := s.accept(t)
	wc.WriteMessage(websocket.TextMessage, []byte("hello"))
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := sc.Read(make([]byte, 10)); !errors.Is(err, ErrTextMessage) {
		t.Fatalf("read err = %v, want ErrTextMessage", err)
	}
	wc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := wc.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
		t.Fatalf("client got %v, want close 1003", err)
	}
}

func TestCloseCodes(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		eof     bool
	}{
		{"1000", websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), true},
		{"1005", nil, true},
		{"1011", websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "oops"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			s := newServer(t, "/ip4/127.0.0.1/tcp/0/ws", Config{}, 16)
			wc := rawClient(t, s)
			sc := s.accept(t)
			wc.WriteMessage(websocket.BinaryMessage, []byte("last"))
			wc.WriteControl(websocket.CloseMessage, tt.payload, time.Now().Add(time.Second))
			sc.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(sc)
			if string(got) != "last" {
				t.Fatalf("read %q before close", got)
			}
			if (err == nil) != tt.eof { // ReadAll turns io.EOF into nil
				t.Fatalf("err = %v, want EOF %v", err, tt.eof)
			}
		})
	}
}

func TestOversizeMessageRefused(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, "/ip4/127.0.0.1/tcp/0/ws", Config{}, 16)
	wc := rawClient(t, s)
	sc := s.accept(t)
	go wc.WriteMessage(websocket.BinaryMessage, make([]byte, MaxMessageSize+1))
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, sc)
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want a read-limit error", err)
	}
}

func TestHTTPRefusalsAndListenerServes(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, "/ip4/127.0.0.1/tcp/0/ws", Config{}, 16)
	base := "http://127.0.0.1:" + s.port()
	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
		event  string
	}{
		{"plain GET", "/", nil, http.StatusUpgradeRequired, "ws refused not_websocket"},
		{"other path", "/other", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, http.StatusNotFound, "ws refused bad_path"},
		{"broken upgrade", "/", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, http.StatusBadRequest, "ws failed websocket"},
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+tt.path, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			s.rec.waitEvent(t, tt.event)
			cc := s.dial(t, s.l.Multiaddr())
			echoOver(t, cc, s.accept(t), 1000)
		})
	}
}

func TestHandshakeLimit(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, "/ip4/127.0.0.1/tcp/0/ws", Config{}, 1)
	na, _ := manet.ToNetAddr(s.l.Multiaddr()[:2])
	idle, err := net.Dial("tcp", na.String()) // holds the only slot
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	s.l.(*listener).waitInflight(t, 1)

	second, err := net.Dial("tcp", na.String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := second.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("second connection: %v, want closed", err)
	}
	s.rec.waitEvent(t, "ws refused handshake_limit")

	idle.Close()
	s.l.(*listener).waitInflight(t, 0)
	cc := s.dial(t, s.l.Multiaddr())
	echoOver(t, cc, s.accept(t), 10)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func (l *listener) waitInflight(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.tcp.inflight.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections before upgrade, want %d", l.tcp.inflight.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSetWriteDeadlineInterruptsWrite(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, "/ip4/127.0.0.1/tcp/0/ws", Config{}, 16)
	rawClient(t, s) // never reads
	sc := s.accept(t)
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := sc.Write(buf); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		t.Fatalf("write failed before the deadline: %v", err)
	case <-time.After(200 * time.Millisecond): // the socket buffers are full by now
	}
	sc.SetWriteDeadline(time.Unix(1, 0))
	select {
	case err := <-errc:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("write err = %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a blocked Write ignored SetWriteDeadline")
	}
}

func TestListenWSSNeedsCertificate(t *testing.T) {
	tr, _ := New(Config{})
	_, err := tr.Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0/wss"), transport.ListenConfig{})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadCertificate(t *testing.T) {
	leakcheck.Check(t)
	cert := wstest.New(t)
	certFile, keyFile := cert.WriteFiles(t)
	conf, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, "/ip4/127.0.0.1/tcp/0/wss", Config{TLSConfig: conf}, 16)
	s.cert = cert
	cc := s.dial(t, s.l.Multiaddr())
	echoOver(t, cc, s.accept(t), 10)
	if _, err := LoadCertificate(certFile, certFile); err == nil {
		t.Fatal("loaded a certificate as its own key")
	}
}

func TestServerTLSProtocols(t *testing.T) {
	c, err := serverTLS(tlsConfigWith{"h2", "acme-tls/1", "http/1.1"}.config())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.NextProtos, ","); got != "http/1.1,acme-tls/1" {
		t.Fatalf("NextProtos %s", got)
	}
}
