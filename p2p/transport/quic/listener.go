package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	quicgo "github.com/quic-go/quic-go"

	p2ptls "github.com/relayd/relayd/p2p/tls"
	"github.com/relayd/relayd/p2p/transport"
)

const label = "quic"

var errHandshakeLimit = errors.New("quic: too many handshakes in flight")

// listener accepts QUIC connections on one UDP socket.
type listener struct {
	ln     *quicgo.Listener
	addr   ma.Multiaddr
	ident  *p2ptls.Identity
	slots  chan struct{} // one per handshake in flight
	tracer transport.Tracer
	cfg    transport.ListenConfig
	unlist func()
}

// handshake is one inbound connection until the host accepts it. It rides
// in the connection's context from quic-go's ConnContext on.
type handshake struct {
	l       *listener
	started time.Time
	key     *p2ptls.PeerKey // set when the server's TLS config is built
	done    atomic.Bool
	stop    func() bool // unregisters the failure callback
}

type handshakeKey struct{}

// Listen binds addr's UDP port and starts a QUIC listener on it.
func (t *Transport) Listen(addr ma.Multiaddr, cfg transport.ListenConfig) (transport.Listener, error) {
	if !t.Handles(addr) {
		return nil, fmt.Errorf("quic: cannot listen on %s", addr)
	}
	network, laddr, err := udpAddr(addr)
	if err != nil {
		return nil, err
	}
	l := &listener{ident: t.ident, slots: make(chan struct{}, cfg.MaxHandshakes), tracer: cfg.Tracer, cfg: cfg}
	qt, err := t.newSocket(network, laddr, l.connContext)
	if err != nil {
		return nil, err
	}
	if l.addr, err = quicMultiaddr(qt.Conn.LocalAddr()); err != nil {
		return nil, err
	}
	qc := baseConfig(t.cfg.IdleTimeout)
	qc.HandshakeIdleTimeout = cfg.HandshakeTimeout / 2
	tlsConf := &tls.Config{GetConfigForClient: l.tlsConfigFor}
	if l.ln, err = qt.Listen(tlsConf, qc); err != nil {
		return nil, err
	}
	l.unlist = t.addListenSocket(network, qt)
	return l, nil
}

func (l *listener) Multiaddr() ma.Multiaddr { return l.addr }

// Close stops accepting; established connections live on until the
// Transport closes.
func (l *listener) Close() error {
	l.unlist()
	return l.ln.Close()
}

// connContext runs for every new connection attempt, before its handshake.
func (l *listener) connContext(ctx context.Context, _ *quicgo.ClientInfo) (context.Context, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		l.tracer.ConnRefused(label, "handshake_limit")
		return nil, errHandshakeLimit
	}
	hs := &handshake{l: l, started: time.Now()}
	ctx = context.WithValue(ctx, handshakeKey{}, hs)
	hs.stop = context.AfterFunc(ctx, func() {
		if hs.finish() {
			l.tracer.HandshakeFailed(label, failedStage(context.Cause(ctx)))
		}
	})
	return ctx, nil
}

// finish releases the handshake's slot; true the first time only.
func (hs *handshake) finish() bool {
	if !hs.done.CompareAndSwap(false, true) {
		return false
	}
	<-hs.l.slots
	return true
}

func failedStage(cause error) string {
	var hte *quicgo.HandshakeTimeoutError
	var ite *quicgo.IdleTimeoutError
	if errors.As(cause, &hte) || errors.As(cause, &ite) {
		return "timeout"
	}
	return "tls"
}

// tlsConfigFor gives every handshake its own config, so the certificate
// check can hand the peer's key to this connection's handshake record.
func (l *listener) tlsConfigFor(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	hs, ok := hello.Context().Value(handshakeKey{}).(*handshake)
	if !ok {
		return nil, errors.New("quic: handshake without a connection context")
	}
	conf, pk := l.ident.ConfigForPeer("")
	hs.key = pk
	return conf, nil
}

// Accept returns the next connection whose handshake completed.
func (l *listener) Accept() (transport.Conn, error) {
	for {
		qc, err := l.ln.Accept(context.Background())
		if err != nil {
			return nil, err
		}
		hs, ok := qc.Context().Value(handshakeKey{}).(*handshake)
		if !ok || !hs.stop() || !hs.finish() {
			// Already failed and counted (or not ours at all).
			qc.CloseWithError(0, "")
			continue
		}
		c, err := newConn(qc, hs.key.Get(), hs.started)
		if err != nil {
			l.cfg.Logger.Debug("quic connection without a verified key", "remote", qc.RemoteAddr(), "err", err)
			l.tracer.HandshakeFailed(label, "tls")
			qc.CloseWithError(0, "")
			continue
		}
		return c, nil
	}
}
