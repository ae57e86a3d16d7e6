package proxyproto

import (
	"net"
	"sync"
	"time"
)

// NewListener wraps l so its connections have their header read per cfg.
// Accept does no I/O: a connection reads its header on its first Read or
// RemoteAddr call, from the goroutine that serves it. A connection whose
// header is refused fails that first Read and closes.
func NewListener(l net.Listener, cfg Config) net.Listener {
	return &listener{Listener: l, cfg: cfg}
}

type listener struct {
	net.Listener
	cfg Config
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lazyConn{Conn: c, cfg: l.cfg}, nil
}

// lazyConn reads its header once, on first use.
type lazyConn struct {
	net.Conn
	cfg Config

	once sync.Once
	pc   *Conn
	err  error
}

func (c *lazyConn) resolve() (*Conn, error) {
	c.once.Do(func() {
		c.pc, c.err = Accept(c.Conn, c.cfg)
		if c.err != nil {
			c.Conn.Close()
		}
	})
	return c.pc, c.err
}

func (c *lazyConn) Read(b []byte) (int, error) {
	pc, err := c.resolve()
	if err != nil {
		return 0, err
	}
	return pc.Read(b)
}

// RemoteAddr is the client's address, or the socket peer's if the header
// was refused (the connection is closed then).
func (c *lazyConn) RemoteAddr() net.Addr {
	if pc, err := c.resolve(); err == nil {
		return pc.RemoteAddr()
	}
	return c.Conn.RemoteAddr()
}

// SetReadDeadline passes through; the header read sets its own deadline
// and clears it, so a deadline set before the first Read is set again
// after it.
func (c *lazyConn) SetReadDeadline(t time.Time) error {
	if _, err := c.resolve(); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *lazyConn) SetDeadline(t time.Time) error {
	if _, err := c.resolve(); err != nil {
		return err
	}
	return c.Conn.SetDeadline(t)
}
