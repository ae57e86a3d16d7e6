package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	pp "github.com/pires/go-proxyproto"
)

// Errors.
var (
	// ErrUntrusted: a PROXY header came from a source not in Trusted.
	ErrUntrusted = errors.New("proxyproto: PROXY header from an untrusted source")
	// ErrUnsupported: a header names something other than a TCP client.
	ErrUnsupported = errors.New("proxyproto: header names no TCP client address")
)

// Config enables the PROXY protocol for a listener.
type Config struct {
	// Trusted are the load balancers' source ranges. Empty disables the
	// protocol: nothing is read and a header fails the handshake.
	Trusted []netip.Prefix
	// Timeout bounds reading the header. Default 5 s.
	Timeout time.Duration
}

// Enabled reports whether any source is trusted.
func (c Config) Enabled() bool { return len(c.Trusted) > 0 }

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 5 * time.Second
	}
	return c.Timeout
}

// Trusts reports whether src may send a header.
func (c Config) Trusts(src netip.AddrPort) bool {
	ip := src.Addr().Unmap()
	for _, p := range c.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// headerBufSize is the reader's buffer: a v1 header is at most 107 bytes
// and v2's fixed part 16, and bytes read past the header stay buffered for
// the caller's first reads. (v2 address and TLV bytes are read through it,
// not held in it.)
const headerBufSize = 256

// ReadHeader reads what the connection from src starts with. From a
// trusted src it consumes an optional header and returns the client it
// names (src when there is no header, or a LOCAL/UNKNOWN one); from any
// other src it consumes nothing and returns src, or ErrUntrusted if a
// header is there. A header cut short is io.ErrUnexpectedEOF.
func ReadHeader(br *bufio.Reader, src netip.AddrPort, cfg Config) (netip.AddrPort, error) {
	if !cfg.Trusts(src) {
		if hasSignature(br) {
			return src, ErrUntrusted
		}
		return src, nil
	}
	h, err := pp.Read(br)
	switch {
	case errors.Is(err, pp.ErrNoProxyProtocol):
		if truncatedSignature(br) {
			return src, io.ErrUnexpectedEOF
		}
		return src, nil
	case err != nil:
		return src, fmt.Errorf("proxyproto: %w", err)
	}
	return clientOf(h, src)
}

// hasSignature peeks for either signature. A stream that is not PROXY
// (multistream starts with 0x13, HTTP with a method) differs in its first
// byte, so only a header-like stream is peeked at further.
func hasSignature(br *bufio.Reader) bool {
	b, err := br.Peek(1)
	if err != nil {
		return false
	}
	for _, sig := range [][]byte{pp.SIGV1, pp.SIGV2} {
		if b[0] == sig[0] {
			if p, err := br.Peek(len(sig)); err == nil && bytes.Equal(p, sig) {
				return true
			}
		}
	}
	return false
}

// truncatedSignature reports whether the buffered bytes (the stream ended
// there) are a proper prefix of a signature.
func truncatedSignature(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	if len(b) == 0 {
		return false
	}
	return bytes.HasPrefix(pp.SIGV1, b) && len(b) < len(pp.SIGV1) ||
		bytes.HasPrefix(pp.SIGV2, b) && len(b) < len(pp.SIGV2)
}

func clientOf(h *pp.Header, src netip.AddrPort) (netip.AddrPort, error) {
	if h.Command.IsLocal() || h.TransportProtocol.IsUnspec() {
		return src, nil // the balancer's own connection (health check)
	}
	if !h.TransportProtocol.IsStream() || h.TransportProtocol.IsUnix() {
		return src, ErrUnsupported
	}
	a, ok := h.SourceAddr.(*net.TCPAddr)
	if !ok {
		return src, ErrUnsupported
	}
	return a.AddrPort(), nil
}

// Conn is a connection with its PROXY header consumed: reads start after
// the header and RemoteAddr is the client's.
type Conn struct {
	net.Conn
	br     *bufio.Reader // bytes read past the header; nil once drained
	remote net.Addr
}

// Accept reads c's header per cfg, within cfg's timeout. On error the
// caller closes c. It clears c's read deadline when done.
func Accept(c net.Conn, cfg Config) (*Conn, error) {
	src := AddrPortOf(c.RemoteAddr())
	br := bufio.NewReaderSize(c, headerBufSize)
	c.SetReadDeadline(time.Now().Add(cfg.timeout()))
	client, err := ReadHeader(br, src, cfg)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		return nil, err
	}
	pc := &Conn{Conn: c, br: br, remote: c.RemoteAddr()}
	if client != src {
		pc.remote = net.TCPAddrFromAddrPort(client)
	}
	return pc, nil
}

// AddrPortOf is a TCP address as a netip.AddrPort; the zero AddrPort for
// any other kind of address (which no trusted range contains).
func AddrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	return netip.AddrPort{}
}

// Read reads what came after the header. Like any net.Conn read side, it
// is for one reader at a time.
func (c *Conn) Read(b []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(b)
		}
		c.br = nil
	}
	return c.Conn.Read(b)
}

// RemoteAddr is the client's address: the header's source, or the socket
// peer's when there was none.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }
