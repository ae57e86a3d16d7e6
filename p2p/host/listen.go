package host

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/quic"
	"github.com/relayd/relayd/p2p/transport/tcp"
	"github.com/relayd/relayd/p2p/transport/ws"
)

// DefaultTransports are TCP, QUIC (with key's TLS identity) and WebSocket
// with default settings: what a host gets when Config.Transports is nil.
func DefaultTransports(key ed25519.PrivateKey) ([]transport.Transport, error) {
	return ClientTransports(key, nil)
}

// ClientTransports are DefaultTransports whose WebSocket dials over TLS
// use clientTLS (nil: the system's roots).
func ClientTransports(key ed25519.PrivateKey, clientTLS *tls.Config) ([]transport.Transport, error) {
	q, err := quic.New(quic.Config{Key: key})
	if err != nil {
		return nil, err
	}
	w, err := ws.New(ws.Config{ClientTLSConfig: clientTLS})
	if err != nil {
		q.Close()
		return nil, err
	}
	return []transport.Transport{tcp.New(), q, w}, nil
}

// listener is one bound transport listener with its own handshake slots,
// so a flood on one transport cannot starve another.
type listener struct {
	transport.Listener
	label      string
	handshakes chan struct{}
}

// transportFor is the first transport that handles addr.
func (h *Host) transportFor(addr ma.Multiaddr) (transport.Transport, error) {
	for _, t := range h.transports {
		if t.Handles(addr) {
			return t, nil
		}
	}
	return nil, transport.ErrUnsupported
}

// Listen binds addr on the transport that handles it and returns the bound
// address, with port 0 resolved. Connections are accepted once Serve runs.
func (h *Host) Listen(addr ma.Multiaddr) (ma.Multiaddr, error) {
	t, err := h.transportFor(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	label := transport.Label(addr)
	tl, err := t.Listen(addr, transport.ListenConfig{
		HandshakeTimeout: h.cfg.HandshakeTimeout,
		MaxHandshakes:    h.cfg.MaxHandshakes,
		Tracer:           h.cfg.Tracer,
		Logger:           h.log.With("listener", addr.String()),
		WrapListener:     h.proxyWrapper(label),
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	l := &listener{Listener: tl, label: label, handshakes: make(chan struct{}, h.cfg.MaxHandshakes)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		l.Close()
		return nil, ErrClosed
	}
	h.listeners = append(h.listeners, l)
	h.identifyMsg = nil
	h.addrs = nil
	return l.Multiaddr(), nil
}

// ListenAddrs are the bound listen addresses.
func (h *Host) ListenAddrs() []ma.Multiaddr {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ma.Multiaddr, len(h.listeners))
	for i, l := range h.listeners {
		out[i] = l.Multiaddr()
	}
	return out
}

func (h *Host) acceptLoop(l *listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if isTimeout(err) {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				h.log.Error("accept failed", "listener", l.Multiaddr(), "err", err)
			}
			return
		}
		c, ok := h.admit(l, c)
		if !ok {
			continue
		}
		switch c := c.(type) {
		case transport.SecureConn:
			if !h.goTask(func() { h.serveSecure(l, c) }) {
				c.Close()
			}
		case transport.RawConn:
			h.admitRaw(l, c)
		default:
			h.log.Error("transport returned an unknown connection type", "listener", l.Multiaddr())
			c.Close()
		}
	}
}

// admitRaw starts the upgrade of c if the listener has a handshake slot.
func (h *Host) admitRaw(l *listener, c transport.RawConn) {
	select {
	case l.handshakes <- struct{}{}:
	default:
		h.log.Debug("too many handshakes in flight, dropping connection", "listener", l.label, "remote", c.RemoteAddr())
		h.cfg.Tracer.ConnRefused(l.label, "handshake_limit")
		c.Close()
		return
	}
	if !h.goTask(func() { h.serveInbound(l, c) }) {
		<-l.handshakes
		c.Close()
	}
}

func (h *Host) serveInbound(l *listener, raw transport.RawConn) {
	start := time.Now()
	raw, ok := h.resolveInbound(l, raw)
	if !ok {
		<-l.handshakes
		return
	}
	c, err := h.upgradeInbound(raw, l.label)
	<-l.handshakes
	if err != nil {
		h.log.Debug("inbound handshake failed", "remote", raw.RemoteMultiaddr(), "err", err)
		stage := "unknown"
		if he, ok := err.(*HandshakeError); ok {
			stage = he.Stage
		}
		h.cfg.Tracer.HandshakeFailed(l.label, stage)
		raw.Close()
		return
	}
	h.run(c, start)
}

// serveSecure serves a connection the transport already authenticated.
func (h *Host) serveSecure(l *listener, sc transport.SecureConn) {
	h.run(h.newConn(sc, sc, sc, l.label, true), sc.HandshakeStarted())
}

// run records c and serves it in a goroutine Close waits for, then tells
// waiters; ErrClosed (c closed) once Close has begun. Every connection,
// accepted, dialed or relayed, starts here.
func (h *Host) run(c *Conn, start time.Time) error {
	if !h.addConn(c) {
		c.Close()
		return ErrClosed
	}
	h.cfg.Tracer.ConnOpened(c.transport, c.inbound, time.Since(start))
	c.debug("peer connected")
	if c.acc.onDemand {
		c.startOnDemand()
		h.watch.notify(c)
		return nil
	}
	// A fresh goroutine serves the connection: this one's stack grew
	// during the handshake's crypto and would stay large for the
	// connection's whole life (2 KiB instead of 4 KiB or more).
	if !h.goTracked(c.serve) {
		// Close began after addConn: nobody serves c, so nobody would
		// remove it.
		h.removeConn(c)
		return ErrClosed
	}
	h.watch.notify(c)
	return nil
}
