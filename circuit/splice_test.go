package circuit

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
)

// memStream is an in-memory circuit leg (no real stream is needed to
// count splice's reads and writes): Read hands out src in pieces of at
// most readSize, as a muxer hands out its frames, then io.EOF; Write
// records the size of every write.
type memStream struct {
	src       []byte
	readSize  int
	mu        sync.Mutex
	writes    []int // sizes, unless countOnly
	nwrites   int
	written   int
	countOnly bool
}

func (m *memStream) Read(p []byte) (int, error) {
	if len(m.src) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), m.readSize)], m.src)
	m.src = m.src[n:]
	return n, nil
}

func (m *memStream) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.countOnly {
		m.writes = append(m.writes, len(p))
	}
	m.nwrites++
	m.written += len(p)
	return len(p), nil
}

func (*memStream) Close() error                { return nil }
func (*memStream) CloseRead() error            { return nil }
func (*memStream) Reset() error                { return nil }
func (*memStream) SetDeadline(time.Time) error { return nil }

func testService(t *testing.T) *Service {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Service{cfg: Config{Now: time.Now}, ctx: ctx, cancel: cancel}
}

// TestSpliceWriteSizes checks the copy buffer sizes: bulk data goes out in
// writes of one full Noise frame's worth of yamux data, while a direction
// that never fills the small buffer, or is paced, keeps it.
func TestSpliceWriteSizes(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name      string
		readSize  int
		rate      int64
		data      int64 // the direction's data cap; 0 is none
		maxWrites int
		wantBulk  bool
	}{
		// One small read, then full bulk buffers.
		{"bulk", 64 << 10, 0, 0, 1 + mib/bulkBufSize + 1, true},
		{"small reads, a write each", 1000, 0, 0, mib/1000 + 1, false},
		{"paced: at most a burst", 64 << 10, 1 << 40, 0, mib / spliceBufSize, false},
		// Less than bulkMinBudget to go: not worth 64 KiB per session.
		{"data cap under the bulk budget", 64 << 10, 0, bulkMinBudget - 1, mib / spliceBufSize, false},
		{"data cap with room for bulk", 64 << 10, 0, 2 * mib, 1 + mib/bulkBufSize + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			s := testService(t)
			src := &memStream{src: make([]byte, mib), readSize: tt.readSize}
			dst := &memStream{readSize: 1}
			want := int64(mib)
			if tt.data > 0 {
				want = min(want, tt.data)
			}
			end := s.splice(src, dst, limiter.Limit{Rate: tt.rate, Data: tt.data}, NopTracer{})
			if end != EndSrcClosed && end != EndDstClosed && end != EndLimitData {
				t.Fatalf("splice ended with %s", end)
			}
			if int64(dst.written) != want {
				t.Fatalf("%d bytes written, want %d", dst.written, want)
			}
			if len(dst.writes) > tt.maxWrites {
				t.Errorf("%d writes for 1 MiB, want at most %d", len(dst.writes), tt.maxWrites)
			}
			bulk := false
			for _, w := range dst.writes {
				if w > bulkBufSize {
					t.Fatalf("a write of %d bytes", w)
				}
				bulk = bulk || w > spliceBufSize
			}
			if bulk != tt.wantBulk {
				t.Errorf("writes above %d bytes: %v, want %v", spliceBufSize, bulk, tt.wantBulk)
			}
		})
	}
}

// TestSpliceAllocs checks that a splice allocates per circuit, not per
// buffer: a MiB in 1000-byte reads, paced (at a rate that never waits) or
// not, costs a few dozen allocations, where one per read would be 1049.
func TestSpliceAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	leakcheck.Check(t)
	const mib = 1 << 20
	data := make([]byte, mib)
	for _, rate := range []int64{0, 1 << 40} {
		s := testService(t)
		src, dst := &memStream{readSize: 1000}, &memStream{countOnly: true}
		allocs := testing.AllocsPerRun(5, func() {
			src.src, dst.written = data, 0
			s.splice(src, dst, limiter.Limit{Rate: rate}, NopTracer{})
		})
		if dst.written != mib {
			t.Fatalf("rate %d: %d bytes written", rate, dst.written)
		}
		t.Logf("rate %d: %v allocations per spliced MiB", rate, allocs)
		if allocs > 40 {
			t.Errorf("rate %d: %v allocations per spliced MiB, want at most 40", rate, allocs)
		}
	}
}
