package ws

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/p2p/transport"
)

// maxHeaderBytes caps an upgrade request's headers (net/http adds 4 KiB
// of slack); browsers send well under 2 KiB.
const maxHeaderBytes = 8 << 10

// listener is an HTTP server that turns upgrade requests into Conns.
type listener struct {
	addr     ma.Multiaddr
	label    string // "ws" or "wss"
	secure   bool
	path     string
	cfg      transport.ListenConfig
	tcp      *countingListener
	net      net.Listener // tcp, or TLS over it
	srv      *http.Server
	upgrader websocket.Upgrader
	incoming chan *Conn

	serveOnce sync.Once
	serving   sync.WaitGroup
	closeOnce sync.Once
	closed    chan struct{}

	mu       sync.Mutex // guards handlers.Add against Close's Wait
	stopping bool
	handlers sync.WaitGroup
}

// Listen binds addr's TCP port. HTTP is served once Accept is first
// called.
func (t *Transport) Listen(addr ma.Multiaddr, cfg transport.ListenConfig) (transport.Listener, error) {
	a, err := parseAddr(addr)
	if err != nil || a.sni != "" {
		return nil, fmt.Errorf("ws: cannot listen on %s", addr)
	}
	path := t.cfg.Path
	if a.path != "/" {
		path = a.path
	}
	l := &listener{secure: a.secure, path: path, cfg: cfg, label: a.scheme(), closed: make(chan struct{}), incoming: make(chan *Conn)}
	var tlsConf *tls.Config
	if a.secure {
		if tlsConf, err = serverTLS(t.cfg.TLSConfig); err != nil {
			return nil, err
		}
	}
	ml, err := manet.Listen(a.tcp)
	if err != nil {
		return nil, err
	}
	l.addr = withSuffix(ml.Multiaddr(), a.secure, path)
	base := manet.NetListener(ml)
	if cfg.WrapListener != nil {
		base = cfg.WrapListener(base)
	}
	l.tcp = &countingListener{Listener: base, l: l}
	l.net = l.tcp
	if tlsConf != nil {
		l.net = tls.NewListener(l.tcp, tlsConf)
	}
	l.srv = l.newServer(tlsConf)
	l.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.HandshakeTimeout,
		ReadBufferSize:   serverReadBuffer,
		WriteBufferSize:  serverWriteBuffer,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      func(*http.Request) bool { return true },
	}
	return l, nil
}

func (l *listener) newServer(tlsConf *tls.Config) *http.Server {
	to := l.cfg.HandshakeTimeout
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	return &http.Server{
		Handler:           l,
		TLSConfig:         tlsConf,
		Protocols:         protos,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: to,
		ReadTimeout:       to,
		WriteTimeout:      to,
		IdleTimeout:       to,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         l.tcp.connState,
		ErrorLog:          slog.NewLogLogger(l.cfg.Logger.Handler(), slog.LevelDebug),
	}
}

func (l *listener) Multiaddr() ma.Multiaddr { return l.addr }

// Accept returns the next upgraded connection.
func (l *listener) Accept() (transport.Conn, error) {
	l.serveOnce.Do(l.startServing)
	select {
	case c := <-l.incoming:
		return c, nil
	case <-l.closed:
		return nil, fmt.Errorf("ws listener %s: %w", l.addr, net.ErrClosed)
	}
}

func (l *listener) startServing() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopping {
		l.serving.Go(func() { l.srv.Serve(l.net) })
	}
}

// Close stops the HTTP server (closing connections not yet upgraded) and
// waits for its goroutines; upgraded connections stay up.
func (l *listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.closed)
		l.mu.Lock()
		l.stopping = true
		l.mu.Unlock()
		err = l.srv.Close()
		l.net.Close() // in case Serve never ran
		l.serving.Wait()
		l.handlers.Wait()
	})
	return err
}

// ServeHTTP upgrades requests on the configured path.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != l.path {
		l.cfg.Tracer.ConnRefused(l.label, "bad_path")
		http.NotFound(w, r)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		l.cfg.Tracer.ConnRefused(l.label, "not_websocket")
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is a libp2p WebSocket endpoint", http.StatusUpgradeRequired)
		return
	}
	if !l.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer l.handlers.Done()
	hj := &hijacker{ResponseWriter: w}
	wc, err := l.upgrader.Upgrade(hj, r, nil)
	if err != nil { // the upgrader has answered
		l.cfg.Tracer.HandshakeFailed(l.label, "websocket")
		return
	}
	c, err := newConn(wc, hj.bc, l.secure)
	if err != nil {
		wc.Close()
		return
	}
	l.handOver(c)
}

// enter registers a handler unless the listener is closing.
func (l *listener) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return false
	}
	l.handlers.Add(1)
	return true
}

// handOver gives c to Accept, or closes it if nobody takes it in time.
func (l *listener) handOver(c *Conn) {
	timer := time.NewTimer(l.cfg.HandshakeTimeout)
	defer timer.Stop()
	select {
	case l.incoming <- c:
	case <-l.closed:
		c.Close()
	case <-timer.C:
		l.cfg.Tracer.ConnRefused(l.label, "accept_timeout")
		c.Close()
	}
}

// countingListener caps the connections that have not finished their
// HTTP upgrade: each holds a slot from Accept until it is hijacked
// (upgraded) or closed.
type countingListener struct {
	net.Listener
	l        *listener
	inflight atomic.Int64
}

func (cl *countingListener) Accept() (net.Conn, error) {
	for {
		c, err := cl.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if cl.inflight.Add(1) <= int64(cl.l.cfg.MaxHandshakes) {
			return c, nil
		}
		cl.inflight.Add(-1)
		cl.l.cfg.Tracer.ConnRefused(cl.l.label, "handshake_limit")
		c.Close()
	}
}

func (cl *countingListener) connState(_ net.Conn, s http.ConnState) {
	if s == http.StateHijacked || s == http.StateClosed {
		cl.inflight.Add(-1)
	}
}

// hijacker hands gorilla the hijacked connection wrapped in a
// boundaryConn; gorilla resets the server's read buffer onto it.
type hijacker struct {
	http.ResponseWriter
	bc *boundaryConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("ws: response cannot be hijacked")
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.bc = &boundaryConn{Conn: c}
	return h.bc, brw, nil
}
