package mesh

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/mesh/frame"
)

// Errors a Stream returns besides io.EOF and timeouts.
var (
	// ErrReset: the circuit was reset, here or by the other node.
	ErrReset = errors.New("mesh: stream reset")
	// ErrLinkDown: the link carrying the stream is gone.
	ErrLinkDown = errors.New("mesh: link down")
	// ErrStopped: the other node reads no more (it sent Stop).
	ErrStopped = circuit.ErrStopSending
	// ErrWriteClosed: Write after Close.
	ErrWriteClosed = errors.New("mesh: write after close")
)

// recordChunk is the largest Data record Write sends: the splice's buffer
// size, so a relayed read becomes one record and one yamux frame.
const recordChunk = 16 << 10

// resetWriteTimeout bounds writing the Reset record; a stream whose window
// is full cannot take it, and yamux's StreamCloseTimeout then sends RST.
const resetWriteTimeout = time.Second

var recordPool = sync.Pool{New: func() any { b := make([]byte, 0, frame.RecordHeaderSize+recordChunk); return &b }}

var past = time.Unix(1, 0)

// Stream is one forwarded circuit's leg on a mesh link: a yamux stream
// whose bytes travel as records (circuit/MESH.md), so that a graceful
// half-close (Fin) and a reset (Reset) are told apart, which yamux alone
// cannot do. It implements circuit.Stream. One Read and one Write may run
// concurrently.
type Stream struct {
	ys      *yamux.Stream
	linkUp  func() bool
	m       *Metrics
	onDone  func() // once, when the stream is finished either way
	watcher func(func())

	rmu   sync.Mutex
	rhdr  [frame.RecordHeaderSize]byte
	rhdrN int
	rem   int   // payload left in the current Data record
	rerr  error // sticky

	wmu     sync.Mutex
	wclosed bool // Fin sent
	broken  bool // a record was partly written: no further record

	finRecv    atomic.Bool // the peer's Fin was read (or we stopped reading)
	finSent    atomic.Bool
	lreset     atomic.Bool // we reset
	rreset     atomic.Bool // the peer reset
	stopped    atomic.Bool // the peer sent Stop
	resetOnce  sync.Once
	closeOnce  sync.Once
	doneOnce   sync.Once
	watchStart sync.Once
}

// Read returns circuit bytes; io.EOF after the peer's Fin.
func (s *Stream) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if err := s.readErr(); err != nil {
		return 0, err
	}
	for s.rem == 0 {
		if err := s.readHeader(); err != nil {
			return 0, err
		}
		if err := s.readErr(); err != nil {
			return 0, err
		}
	}
	if len(p) > s.rem {
		p = p[:s.rem]
	}
	n, err := s.ys.Read(p)
	s.rem -= n
	s.m.received.Add(float64(n))
	if err != nil {
		return n, s.readFailed(err, true)
	}
	return n, nil
}

func (s *Stream) readErr() error {
	switch {
	case s.rerr != nil:
		return s.rerr
	case s.lreset.Load() || s.rreset.Load():
		return ErrReset
	}
	return nil
}

// readHeader reads the next record header and acts on control records.
func (s *Stream) readHeader() error {
	for s.rhdrN < len(s.rhdr) {
		k, err := s.ys.Read(s.rhdr[s.rhdrN:])
		s.rhdrN += k
		if err != nil {
			return s.readFailed(err, s.rhdrN > 0)
		}
	}
	s.rhdrN = 0
	h, _, err := frame.ParseRecordHeader(s.rhdr[:])
	if err != nil {
		s.remoteReset()
		s.rerr = ErrReset
		return s.rerr
	}
	switch h.Type {
	case frame.Data:
		s.rem = h.Len
	case frame.Fin:
		s.rerr = io.EOF
		s.finRecv.Store(true)
		s.afterFin()
		return io.EOF
	case frame.Reset:
		s.remoteReset()
		s.rerr = ErrReset
		return s.rerr
	case frame.Stop:
		s.peerStopped()
	}
	return nil
}

// readFailed maps a yamux read error. Timeouts are not sticky: the
// deadline may move. A yamux FIN without a Fin record, or a RST, is a
// reset; the session's end is a link failure.
func (s *Stream) readFailed(err error, midRecord bool) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if s.lreset.Load() {
			return ErrReset
		}
		return err
	}
	switch {
	case !s.linkUp():
		s.rerr = ErrLinkDown
	case errors.Is(err, io.EOF), errors.Is(err, yamux.ErrConnectionReset), midRecord:
		s.rerr = ErrReset
	default:
		s.rerr = err
	}
	if s.rerr == ErrReset {
		s.remoteReset()
	}
	return s.rerr
}

// afterFin keeps reading control records once the peer's direction ended
// while ours still runs, so a later Reset or Stop from the peer still
// reaches our writer; it ends when the stream does.
func (s *Stream) afterFin() {
	if s.finSent.Load() {
		s.finish()
		return
	}
	s.watchStart.Do(func() { s.watcher(s.watchControl) })
	s.finish()
}

func (s *Stream) watchControl() {
	var hdr [frame.RecordHeaderSize]byte
	for {
		if _, err := io.ReadFull(s.ys, hdr[:]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return // our deadline (the duration cap) or our Reset: the splice acts
			}
			if s.linkUp() && !s.lreset.Load() && !s.closed() {
				s.remoteReset() // a yamux RST or FIN without our side done
			}
			return
		}
		h, _, err := frame.ParseRecordHeader(hdr[:])
		switch {
		case err != nil || h.Type == frame.Data || h.Type == frame.Reset:
			s.remoteReset()
			return
		case h.Type == frame.Stop:
			s.peerStopped()
		}
	}
}

// closed reports whether both directions finished gracefully.
func (s *Stream) closed() bool { return s.finSent.Load() && s.finRecv.Load() }

// Write sends p as Data records.
func (s *Stream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writeErr(); err != nil {
		return 0, err
	}
	bp := recordPool.Get().(*[]byte)
	defer recordPool.Put(bp)
	written := 0
	for written < len(p) {
		chunk := p[written:min(len(p), written+recordChunk)]
		buf := frame.RecordHeader{Type: frame.Data, Len: len(chunk)}.Append((*bp)[:0])
		buf = append(buf, chunk...)
		k, err := s.ys.Write(buf)
		if err != nil {
			s.broken = s.broken || k > 0
			return written, s.writeFailed(err)
		}
		written += len(chunk)
		s.m.sent.Add(float64(len(chunk)))
	}
	return written, nil
}

func (s *Stream) writeErr() error {
	switch {
	case s.lreset.Load() || s.rreset.Load():
		return ErrReset
	case s.stopped.Load():
		return ErrStopped
	case s.wclosed:
		return ErrWriteClosed
	case s.broken:
		return ErrReset
	}
	return nil
}

func (s *Stream) writeFailed(err error) error {
	if werr := s.writeErr(); werr != nil && !errors.Is(werr, ErrWriteClosed) {
		return werr
	}
	if !s.linkUp() {
		return ErrLinkDown
	}
	if errors.Is(err, yamux.ErrConnectionReset) || errors.Is(err, yamux.ErrStreamClosed) {
		s.remoteReset()
		return ErrReset
	}
	return err
}

// writeControl sends a control record; the caller holds wmu.
func (s *Stream) writeControl(typ byte) error {
	if s.broken {
		return ErrReset
	}
	_, err := s.ys.Write(frame.RecordHeader{Type: typ}.Append(nil))
	if err != nil {
		s.broken = true
	}
	return err
}

// Close half-closes: it sends Fin, and the peer reads EOF.
func (s *Stream) Close() error {
	s.wmu.Lock()
	if s.wclosed || s.lreset.Load() || s.rreset.Load() {
		s.wmu.Unlock()
		return nil
	}
	s.wclosed = true
	err := s.writeControl(frame.Fin)
	s.wmu.Unlock()
	if err != nil {
		s.Reset()
		return s.writeFailed(err)
	}
	s.finSent.Store(true)
	s.finish()
	return nil
}

// CloseRead sends Stop: the peer's writes fail from now on. Bytes already
// on the way are dropped.
func (s *Stream) CloseRead() error {
	s.finRecv.Store(true)
	s.wmu.Lock()
	err := s.writeControl(frame.Stop)
	s.wmu.Unlock()
	s.finish()
	return err
}

// Reset abandons the stream: the peer reads ErrReset (or, if the Reset
// record cannot be sent, yamux's RST after StreamCloseTimeout).
func (s *Stream) Reset() error {
	s.resetOnce.Do(func() {
		s.lreset.Store(true)
		s.ys.SetWriteDeadline(past) // wake a writer waiting for window
		s.ys.SetReadDeadline(past)
		s.wmu.Lock()
		if !s.rreset.Load() && s.linkUp() {
			s.ys.SetWriteDeadline(time.Now().Add(resetWriteTimeout))
			s.writeControl(frame.Reset)
		}
		s.wmu.Unlock()
		s.release()
	})
	return nil
}

// SetDeadline sets the read and write deadlines.
func (s *Stream) SetDeadline(t time.Time) error { return s.ys.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.ys.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.ys.SetWriteDeadline(t) }

// remoteReset records the peer's reset and wakes our writer, whose next
// write fails with ErrReset.
func (s *Stream) remoteReset() {
	if s.rreset.Swap(true) {
		return
	}
	s.ys.SetWriteDeadline(past)
	s.release()
}

// peerStopped records the peer's Stop and wakes our writer.
func (s *Stream) peerStopped() {
	s.stopped.Store(true)
	s.ys.SetWriteDeadline(past)
}

// finish releases the stream once both directions ended gracefully.
func (s *Stream) finish() {
	if s.closed() {
		s.release()
	}
}

// release closes the yamux stream (its FIN frees it on both sides) and
// reports the stream done.
func (s *Stream) release() {
	s.closeOnce.Do(func() { s.ys.Close() })
	s.doneOnce.Do(func() {
		if s.onDone != nil {
			s.onDone()
		}
	})
}
