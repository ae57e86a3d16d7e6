package host

import (
	"sync/atomic"
	"time"
)

// Short-lived goroutines (a connection's handshake, a stream's handler) run
// on workers that outlive one task. A fresh goroutine starts with the
// runtime's average stack size, which on a relay holding thousands of idle
// connections is small, and a handshake's crypto or a stream's first yamux
// write then grows it two or three times, each growth a copy of the whole
// stack: runtime.copystack was about 15% of relayd's CPU per reservation.
// A worker's stack, once grown, serves the next task as it is.
//
// At most maxIdleWorkers wait for a task, each for workerIdleTimeout, then
// exit, so a quiet host holds none; they also exit when the host closes.
// Connection servers (Conn.serve) are not tasks: they live as long as the
// connection and must keep the small stack of a fresh goroutine.
const (
	maxIdleWorkers    = 16
	workerIdleTimeout = 5 * time.Second
)

// workerPool is the host's idle workers. Its zero value is ready: goTask
// makes the channel under the host's lock.
type workerPool struct {
	tasks   chan func() // unbuffered: a send succeeds only if a worker waits
	idle    atomic.Int32
	spawned atomic.Int64 // workers started, for tests
}

// goTask runs fn on an idle worker, or on a new one, which Close waits
// for like any goroutine of goTracked; false (fn not run) once Close has
// begun.
func (h *Host) goTask(fn func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if h.workers.tasks == nil {
		h.workers.tasks = make(chan func())
	}
	select {
	case h.workers.tasks <- fn:
	default:
		h.workers.spawned.Add(1)
		h.wg.Go(func() { h.work(fn) })
	}
	return true
}

// work runs fn, then the tasks handed to it while it waits idle.
func (h *Host) work(fn func()) {
	var idle *time.Timer
	for {
		fn()
		if h.workers.idle.Add(1) > maxIdleWorkers {
			h.workers.idle.Add(-1)
			return
		}
		if idle == nil {
			idle = time.NewTimer(workerIdleTimeout)
			defer idle.Stop()
		} else {
			idle.Reset(workerIdleTimeout)
		}
		select {
		case fn = <-h.workers.tasks:
			h.workers.idle.Add(-1)
		case <-idle.C:
			h.workers.idle.Add(-1)
			return
		case <-h.ctx.Done():
			h.workers.idle.Add(-1)
			return
		}
	}
}
