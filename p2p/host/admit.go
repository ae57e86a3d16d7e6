package host

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/proxyproto"
	"github.com/relayd/relayd/ratelimit"
)

// ConnLimits cap inbound connections before any handshake work is spent
// on them. ReloadConnLimits changes them at run time.
type ConnLimits struct {
	// MaxConns caps inbound connections, handshaking or established, on
	// all listeners together. Default 2048; negative means no cap.
	MaxConns int
	// ConnRatePerIP limits new inbound connections from one IP (IPv6: one
	// /64; behind a trusted PROXY-protocol balancer, the client's).
	// Default 4/s, burst 16; a negative PerSecond means no limit.
	ConnRatePerIP ratelimit.Rate
}

func (c ConnLimits) withDefaults() ConnLimits {
	if c.MaxConns == 0 {
		c.MaxConns = 2048
	}
	if c.ConnRatePerIP == (ratelimit.Rate{}) {
		c.ConnRatePerIP = ratelimit.Rate{PerSecond: 4, Burst: 16}
	}
	return c
}

// admission applies ConnLimits.
type admission struct {
	mu     sync.Mutex
	limits ConnLimits
	perIP  *ratelimit.KeyedRate[netip.Prefix]
	open   int
}

func newAdmission(l ConnLimits) *admission {
	a := &admission{}
	a.set(l)
	return a
}

func (a *admission) set(l ConnLimits) {
	l = l.withDefaults()
	perIP := ratelimit.NewKeyedRate[netip.Prefix](l.ConnRatePerIP, 0)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.limits, a.perIP = l, perIP
}

// take counts one connection, or reports false at MaxConns.
func (a *admission) take() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.limits.MaxConns >= 0 && a.open >= a.limits.MaxConns {
		return false
	}
	a.open++
	return true
}

func (a *admission) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.open--
}

func (a *admission) allowIP(remote ma.Multiaddr) bool {
	a.mu.Lock()
	perIP := a.perIP
	a.mu.Unlock()
	return perIP.Allow(ratelimit.IPKey(ipOf(remote)), time.Now())
}

// InboundConns is the number of inbound connections counted against MaxConns.
func (h *Host) InboundConns() int {
	h.adm.mu.Lock()
	defer h.adm.mu.Unlock()
	return h.adm.open
}

// ReloadConnLimits applies l to connections accepted from now on;
// established ones stay even above a lower MaxConns. Per-IP buckets
// start afresh.
func (h *Host) ReloadConnLimits(l ConnLimits) { h.adm.set(l) }

// admit counts c against MaxConns and its IP's rate (unless the real IP
// is still behind a PROXY header: resolveInbound checks it then). It
// returns c wrapped so that closing it uncounts it; false means c was
// refused and closed.
func (h *Host) admit(l *listener, c transport.Conn) (transport.Conn, bool) {
	if !h.adm.take() {
		h.refuseConn(l.label, "conn_limit", c)
		return nil, false
	}
	release := sync.OnceFunc(h.adm.release)
	if !h.proxied(l, c) && !h.adm.allowIP(c.RemoteMultiaddr()) {
		release()
		h.refuseConn(l.label, "ip_rate", c)
		return nil, false
	}
	switch c := c.(type) {
	case transport.SecureConn:
		return countedSecure{c, release}, true
	case transport.RawConn:
		return countedRaw{c, release}, true
	}
	return c, true // the accept loop refuses unknown types
}

// proxyWrapper is how WebSocket listeners read PROXY headers: before TLS
// and HTTP, inside the transport (TCP connections are resolved by the host
// in resolveInbound). A header from an untrusted source fails the
// connection's first read, so it is dropped before its HTTP request.
func (h *Host) proxyWrapper(label string) func(net.Listener) net.Listener {
	if (label != "ws" && label != "wss") || !h.cfg.ProxyProtocol.Enabled() {
		return nil
	}
	cfg := h.cfg.ProxyProtocol
	return func(l net.Listener) net.Listener { return proxyproto.NewListener(l, cfg) }
}

// proxied reports whether c may carry a PROXY header: a TCP connection
// from a trusted balancer, when the protocol is on.
func (h *Host) proxied(l *listener, c transport.Conn) bool {
	if l.label != "tcp" || !h.cfg.ProxyProtocol.Enabled() {
		return false
	}
	raw, ok := c.(transport.RawConn)
	return ok && h.cfg.ProxyProtocol.Trusts(proxyproto.AddrPortOf(raw.RemoteAddr()))
}

// resolveInbound reads a TCP connection's PROXY header when the protocol
// is on (refusing one from an untrusted source) and then holds the
// client's real IP to its rate. It runs in the connection's goroutine,
// under its handshake slot. On error the caller closes raw.
func (h *Host) resolveInbound(l *listener, raw transport.RawConn) (transport.RawConn, bool) {
	if l.label != "tcp" || !h.cfg.ProxyProtocol.Enabled() {
		return raw, true
	}
	proxied := h.proxied(l, raw)
	stop := context.AfterFunc(h.ctx, func() { raw.Close() }) // Close aborts the wait
	pc, err := proxyproto.Accept(raw, h.cfg.ProxyProtocol)
	stop()
	if err != nil {
		reason := "proxy_header"
		if err == proxyproto.ErrUntrusted {
			reason = "proxy_untrusted"
		}
		h.refuseConn(l.label, reason, raw)
		return nil, false
	}
	c := proxiedConn{Conn: pc, local: raw.LocalMultiaddr(), remote: raw.RemoteMultiaddr()}
	if a, err := manet.FromNetAddr(pc.RemoteAddr()); err == nil {
		c.remote = a
	}
	if proxied && !h.adm.allowIP(c.remote) {
		h.refuseConn(l.label, "ip_rate", c)
		return nil, false
	}
	return c, true
}

// refuseConn closes c before its handshake, logged (rate-limited by the
// relay's handler) and counted with reason.
func (h *Host) refuseConn(label, reason string, c transport.Conn) {
	h.log.Debug("connection refused", "listener", label, "remote", c.RemoteMultiaddr(), "reason", reason)
	h.cfg.Tracer.ConnRefused(label, reason)
	c.Close()
}

func ipOf(a ma.Multiaddr) netip.Addr {
	ip, err := manet.ToIP(a)
	if err != nil {
		return netip.Addr{}
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

// countedRaw and countedSecure uncount their connection when closed (the
// host closes every connection it admitted, whether its handshake failed
// or it ran to the end).
type countedRaw struct {
	transport.RawConn
	release func()
}

func (c countedRaw) Close() error {
	c.release()
	return c.RawConn.Close()
}

// transportConn is the transport's own connection under the host's
// wrapper, whose optional interfaces (transport.ReadResumer,
// transport.ReadWaiter) the wrapper does not have.
func transportConn(c transport.RawConn) transport.RawConn {
	if w, ok := c.(countedRaw); ok {
		return w.RawConn
	}
	return c
}

type countedSecure struct {
	transport.SecureConn
	release func()
}

func (c countedSecure) Close() error {
	c.release()
	return c.SecureConn.Close()
}

// proxiedConn is a TCP connection past its PROXY header, addressed by the
// client it names.
type proxiedConn struct {
	*proxyproto.Conn
	local, remote ma.Multiaddr
}

func (c proxiedConn) LocalMultiaddr() ma.Multiaddr  { return c.local }
func (c proxiedConn) RemoteMultiaddr() ma.Multiaddr { return c.remote }
