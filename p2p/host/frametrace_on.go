//go:build relayd_frametrace

package host

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Frame tracing is a measurement build's (go build -tags
// relayd_frametrace), never a production one's: interop's TestCompare
// builds it with RELAYD_COMPARE_RESIDENCY=1 to measure how long relayed
// bytes stay inside relayd. Every yamux frame header read from a peer
// ('R', once the whole header is in) and every data frame about to be
// written ('W') is appended, with the time, to the file RELAYD_FRAME_TRACE
// names, one line each:
//
//	<unix ns> <link> <R|W> <type> <stream id> <length>
//
// where link is the frameCoalescer's address. A new link writes
// "<unix ns> <link> N 0 0 0" first: the allocator reuses the address of a
// link that is gone. The lines are kept in memory and written every
// 100 ms, so that recording costs the frame path an append, not a
// syscall. This is package state, not a Host's, because only such a build
// has it.
var frameTrace struct {
	once sync.Once
	mu   sync.Mutex
	buf  []byte
	f    *os.File
}

func traceFrame(c *frameCoalescer, dir byte, h []byte) {
	ft := &frameTrace
	ft.once.Do(startFrameTrace)
	if ft.f == nil {
		return
	}
	if h == nil {
		var none [yamuxHeaderSize]byte
		h = none[:]
	}
	now := time.Now().UnixNano()
	ft.mu.Lock()
	b := strconv.AppendInt(ft.buf, now, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(uintptr(unsafe.Pointer(c))), 16)
	b = append(b, ' ', dir, ' ')
	b = strconv.AppendUint(b, uint64(h[1]), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(h[4:])), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(h[8:])), 10)
	ft.buf = append(b, '\n')
	ft.mu.Unlock()
}

// startFrameTrace opens RELAYD_FRAME_TRACE and starts the writer, which
// lives as long as the process.
func startFrameTrace() {
	path := os.Getenv("RELAYD_FRAME_TRACE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "relayd: RELAYD_FRAME_TRACE: %v\n", err)
		return
	}
	frameTrace.f = f
	go func() {
		var spare []byte
		for range time.Tick(100 * time.Millisecond) {
			frameTrace.mu.Lock()
			b := frameTrace.buf
			frameTrace.buf = spare[:0]
			frameTrace.mu.Unlock()
			if len(b) > 0 {
				f.Write(b)
			}
			spare = b
		}
	}()
}
