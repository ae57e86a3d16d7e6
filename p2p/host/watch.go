package host

import (
	"context"
	"slices"
	"sync"

	"github.com/relayd/relayd/p2p/identity"
)

// connWatch tells waiters about new connections. It has its own lock so
// that notifying never holds the host's.
type connWatch struct {
	mu      sync.Mutex
	waiters []*connWaiter
}

type connWaiter struct {
	match func(*Conn) bool
	got   chan *Conn // buffered 1
}

func (w *connWatch) notify(c *Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiters = slices.DeleteFunc(w.waiters, func(x *connWaiter) bool {
		if !x.match(c) {
			return false
		}
		x.got <- c
		return true
	})
}

func (w *connWatch) add(x *connWaiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiters = append(w.waiters, x)
}

func (w *connWatch) remove(x *connWaiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiters = slices.DeleteFunc(w.waiters, func(y *connWaiter) bool { return y == x })
}

// WaitConn returns the first connection to p, established now or later
// until ctx is done, for which match is true (nil matches any).
func (h *Host) WaitConn(ctx context.Context, p identity.PeerID, match func(*Conn) bool) (*Conn, error) {
	x := &connWaiter{got: make(chan *Conn, 1), match: func(c *Conn) bool {
		return c.remotePeer == p && (match == nil || match(c))
	}}
	h.watch.add(x)
	defer h.watch.remove(x)
	for _, c := range h.ConnsToPeer(p) {
		if x.match(c) {
			return c, nil
		}
	}
	select {
	case c := <-x.got:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// DirectConn reports whether c is a direct (not relayed) connection; a
// match function for WaitConn.
func DirectConn(c *Conn) bool { return !c.relayed }
