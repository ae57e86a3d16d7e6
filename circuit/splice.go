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

// spliceBufSize is the copy buffer per direction while bytes flow: large
// enough that one read fills a Noise frame worth of yamux data, pooled so
// an idle relay holds none.
const spliceBufSize = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, spliceBufSize); return &b }}

// circuit is one spliced pair of streams.
type circuit struct {
	src, dst *host.Stream
	end      atomic.Pointer[End] // the first reason wins
}

func (c *circuit) finish(e End) bool { return c.end.CompareAndSwap(nil, &e) }

func (c *circuit) reset() {
	c.src.Reset()
	c.dst.Reset()
}

// splice copies src↔dst until both directions end, one direction fails,
// or a cap is reached, and reports why it ended.
func (s *Service) splice(src, dst *host.Stream, lim limiter.Limit) End {
	c := &circuit{src: src, dst: dst}
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
		if c.finish(EndShutdown) {
			c.reset()
		}
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
	if e := c.end.Load(); e != nil {
		return *e
	}
	return EndSrcClosed
}

// copyDir copies r to w until EOF (then half-closes w), a cap or an error
// (then resets the circuit), paced to lim.Rate. eofEnd names who closed on
// EOF.
func (s *Service) copyDir(c *circuit, w, r *host.Stream, lim limiter.Limit, eofEnd End) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	pace := newPacer(lim.Rate, s.cfg.Now)
	max := lim.Data
	var n int64
	for {
		chunk := pace.chunk(buf)
		if max > 0 {
			if n >= max {
				if c.finish(EndLimitData) {
					c.reset()
				}
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
				s.failDir(c, werr, otherEnd(eofEnd))
				return
			}
			n += int64(k)
			s.trace.BytesRelayed(r == c.src, k)
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

// failDir ends the circuit after an I/O error; peerEnd names the peer
// whose stream failed, which ended the circuit if it reset that stream
// (go-libp2p drops a relayed connection, e.g. after a hole punch, with a
// reset: a peer closing, not an error).
func (s *Service) failDir(c *circuit, err error, peerEnd End) {
	e := EndError
	var ne net.Error
	switch {
	case host.IsPeerReset(err):
		e = peerEnd
	case errors.As(err, &ne) && ne.Timeout():
		e = EndLimitDuration
	}
	if c.finish(e) {
		c.reset()
	}
}

func otherEnd(e End) End {
	if e == EndSrcClosed {
		return EndDstClosed
	}
	return EndSrcClosed
}

var _ = time.Second
