package host

import (
	"runtime/debug"
	"time"
)

// Returning memory after a burst of connections.
//
// A relay that takes thousands of connections at once (a restart, a
// fleet rebalancing its peers) is left with their handshakes' garbage
// and, on TCP, with the memory of the sessions that parked (park.go).
// The Go runtime keeps freed memory up to its heap goal, twice the live
// heap, and returns the rest at its scavenger's pace, so an idle relay
// would sit for minutes at about twice the memory its connections need.
// After a burst of connection events (new connections and parks) the
// releaser hands that memory back at once, with debug.FreeOSMemory: a
// full GC and a scavenge, once per burst.
//
// A burst is at least Config.ReleaseAfter events (releaseAfter by
// default) and at least an eighth of the
// connections held, followed by one releaseQuiet period with no event.
// The eighth is what keeps a large relay's steady churn from forcing a
// full GC of a large heap every few seconds: at 100,000 connections it
// takes 12,500 new ones, and the runtime forces a GC every two minutes
// anyway.
const (
	releaseAfter = 512
	releaseQuiet = time.Second
)

// releasePolicy says when the releaser releases; tests shrink it.
type releasePolicy struct {
	after int64         // Config.ReleaseAfter; the releaser never starts if negative
	quiet time.Duration // releaseQuiet
}

// due: burst events since the last release, conns held.
func (p releasePolicy) due(burst int64, conns int) bool {
	return burst >= p.after && burst >= int64(conns/8)
}

// connEvent counts a new or parked connection for the releaser.
func (h *Host) connEvent() { h.connEvents.Add(1) }

// releaser runs from the first connection until the host closes.
func (h *Host) releaser() {
	t := time.NewTicker(h.release.quiet)
	defer t.Stop()
	var seen, released int64
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			n := h.connEvents.Load()
			if n != seen {
				seen = n
				continue
			}
			if burst := n - released; h.release.due(burst, h.numConns()) {
				start := time.Now()
				debug.FreeOSMemory()
				released = n
				h.releases.Add(1)
				h.log.Debug("returned free memory to the OS", "events", burst, "took", time.Since(start))
			}
		}
	}
}

// numConns is how many connections the host holds.
func (h *Host) numConns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nconns
}
