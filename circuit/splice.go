package circuit

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
)

// End says why a circuit ended.
type End string

// Circuit endings (the metrics issue's close reasons).
const (
	EndLimitDuration End = "limit_duration"
	EndLimitData     End = "limit_data"
	EndSrcClosed     End = "src_closed"
	EndDstClosed     End = "dst_closed"
	EndError         End = "error"
	EndShutdown      End = "shutdown"
)

// Copy buffers, one per direction, pooled so a relay without circuits
// holds none. A direction starts with spliceBufSize, which is what a
// quiet circuit holds while it waits. Once a read fills it, the direction
// is moving bulk data and switches to bulkBufSize for the rest of the
// circuit: 65507 bytes is the largest yamux data frame (12-byte header)
// that fits one Noise frame (65535 bytes, 16 of them the tag), so each
// write is one yamux frame, one Noise frame and one syscall, four times
// fewer than with 16 KiB.
//
// The switch has a cost beyond the buffer: hashicorp/yamux's send loop
// copies each body into a buffer it keeps for the session's life and never
// shrinks, so one 64 KiB write makes both legs' connections hold 64 KiB
// instead of 16 KiB until they close. A direction with less than
// bulkMinBudget of its data cap left (the default 128 KiB cap, DCUtR's
// few messages) therefore stays small: the syscalls it would save are a
// handful, the memory would stay with the reservation.
const (
	spliceBufSize = 16 << 10
	bulkBufSize   = 65535 - 16 - 12
	bulkMinBudget = 1 << 20
)

var (
	bufPool     = sync.Pool{New: func() any { b := make([]byte, spliceBufSize); return &b }}
	bulkBufPool = sync.Pool{New: func() any { b := make([]byte, bulkBufSize); return &b }}
)

// spliceBuf is one direction's copy buffer, small until it is filled.
type spliceBuf struct {
	bp   *[]byte
	bulk bool
}

func getSpliceBuf() spliceBuf { return spliceBuf{bp: bufPool.Get().(*[]byte)} }

// grow switches to the bulk buffer after a read of n bytes filled the
// small one.
func (b *spliceBuf) grow(n int) {
	if b.bulk || n < len(*b.bp) {
		return
	}
	bufPool.Put(b.bp)
	b.bp, b.bulk = bulkBufPool.Get().(*[]byte), true
}

func (b *spliceBuf) put() {
	if b.bulk {
		bulkBufPool.Put(b.bp)
	} else {
		bufPool.Put(b.bp)
	}
}

// circuit is one spliced pair of streams.
type circuit struct {
	src, dst Stream
	trace    Tracer
	end      atomic.Pointer[End] // the first reason wins
}

func (c *circuit) finish(e End) bool { return c.end.CompareAndSwap(nil, &e) }

func (c *circuit) reset() {
	c.src.Reset()
	c.dst.Reset()
}

// splice copies src↔dst until both directions end, one direction fails,
// or a cap is reached, and reports why it ended. trace counts its bytes.
func (s *Service) splice(src, dst Stream, lim limiter.Limit, trace Tracer) End {
	c := &circuit{src: src, dst: dst, trace: trace}
	if !s.track() {
		c.reset()
		return EndShutdown
	}
	// The duration cap is the circuit's deadline; without one, none: the
	// hop stream still carries the request deadline HandleHop set, which
	// would otherwise cut an unlimited circuit after StreamTimeout.
	var deadline time.Time
	if lim.Duration > 0 {
		deadline = s.cfg.Now().Add(lim.Duration)
	}
	src.SetDeadline(deadline)
	dst.SetDeadline(deadline)
	stop := context.AfterFunc(s.ctx, func() {
		c.finish(EndShutdown)
		c.reset()
	})
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer wg.Done()
		s.copyDir(c, dst, src, lim, EndSrcClosed)
	}()
	s.copyDir(c, src, dst, lim, EndDstClosed)
	wg.Wait()
	// Unless reset, each stream's write side is closed now and its read
	// side at EOF or closed; Close again is what ends a yamux stream whose
	// read side was abandoned at the cap (host's yamuxStream.Close). On a
	// reset stream it does nothing.
	src.Close()
	dst.Close()
	if e := c.end.Load(); e != nil {
		return *e
	}
	return EndSrcClosed
}

// copyDir copies r to w, paced to lim.Rate, until one of:
//   - EOF: w is half-closed, so the other side gets every byte, then EOF;
//   - the data cap: every counted byte has been written to w, then w is
//     half-closed and r's read side closed (QUIC: STOP_SENDING; yamux: an
//     RST once our write side to r is closed too), so the sender's further
//     writes fail. Like go-libp2p's relay (io.LimitReader, CloseWrite,
//     CloseRead), the cap never discards a counted byte;
//   - an error, including the duration cap's deadline: the circuit is
//     reset, both streams in both directions.
//
// The other direction carries on in the first two cases. eofEnd names who
// closed on EOF.
func (s *Service) copyDir(c *circuit, w, r Stream, lim limiter.Limit, eofEnd End) {
	sb := getSpliceBuf()
	defer sb.put()
	pace := newPacer(lim.Rate, s.cfg.Now)
	max := lim.Data
	var n int64
	for {
		chunk := pace.chunk(*sb.bp)
		if max > 0 {
			if n >= max {
				c.finish(EndLimitData)
				w.Close()
				r.CloseRead()
				return
			}
			chunk = chunk[:min(int64(len(chunk)), max-n)]
		}
		k, err := r.Read(chunk)
		if k > 0 {
			if !pace.wait(k, s.ctx.Done()) {
				return // shutdown: the circuit is being reset
			}
			if _, werr := w.Write(chunk[:k]); werr != nil {
				if errors.Is(werr, ErrStopSending) {
					// The other side stopped reading (a forwarded
					// circuit's entry node reached the data cap): this
					// direction is over, the circuit is not failed.
					r.CloseRead()
					return
				}
				s.failDir(c, werr, otherEnd(eofEnd))
				return
			}
			n += int64(k)
			c.trace.BytesRelayed(r == c.src, k)
			if pace == nil && (max <= 0 || max-n >= bulkMinBudget) {
				// A paced direction reads at most a burst, no
				// more than spliceBufSize, at a time.
				sb.grow(k)
			}
		}
		if errors.Is(err, io.EOF) {
			c.finish(eofEnd)
			w.Close()
			return
		}
		if err != nil {
			s.failDir(c, err, eofEnd)
			return
		}
	}
}

// failDir resets the circuit: an error, or the duration cap's deadline,
// ends both directions at once, even one still flowing after the other
// reached the data cap. The reason is recorded only if it is the first.
// peerEnd names the peer whose stream failed: a peer resetting its stream
// ended the circuit (go-libp2p drops a relayed connection, e.g. after a
// hole punch, with a reset: a peer closing, not an error).
func (s *Service) failDir(c *circuit, err error, peerEnd End) {
	e := EndError
	var ne net.Error
	switch {
	case host.IsPeerReset(err):
		e = peerEnd
	case errors.As(err, &ne) && ne.Timeout():
		e = EndLimitDuration
	}
	c.finish(e)
	c.reset()
}

func otherEnd(e End) End {
	if e == EndSrcClosed {
		return EndDstClosed
	}
	return EndSrcClosed
}
