package circuit

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestPacerExact checks the pacer on a synctest clock: a burst passes at
// once, then bytes flow at exactly the rate.
func TestPacerExact(t *testing.T) {
	tests := []struct {
		name  string
		rate  int64
		burst int
		write int // bytes per wait
		total int
		want  time.Duration
	}{
		{"64kB/s in burst-sized writes", 64000, 3200, 3200, 64000 + 3200, time.Second},
		{"1MiB/s in 16KiB writes", 1 << 20, 16 << 10, 16 << 10, 2<<20 + 16<<10, 2 * time.Second},
		{"slow rate uses the 1KiB floor", 2048, 1024, 1024, 4096 + 1024, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPacer(tt.rate, time.Now)
				if got := len(p.chunk(make([]byte, spliceBufSize))); got != tt.burst {
					t.Fatalf("chunk = %d, want %d", got, tt.burst)
				}
				start := time.Now()
				for sent := 0; sent < tt.total; sent += tt.write {
					if !p.wait(tt.write, nil) {
						t.Fatal("wait aborted")
					}
				}
				// The last wait ends when its bytes are paid for (to
				// within float rounding of the token count).
				if got := time.Since(start); got < tt.want-time.Microsecond || got > tt.want+time.Microsecond {
					t.Fatalf("%d bytes took %v, want %v", tt.total, got, tt.want)
				}
			})
		})
	}
}

func TestPacerAbortsAndNil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(1024, time.Now)
		done := make(chan struct{})
		p.wait(1024, done) // the burst
		go func() {
			time.Sleep(100 * time.Millisecond)
			close(done)
		}()
		start := time.Now()
		if p.wait(1024, done) {
			t.Fatal("wait did not abort")
		}
		if got := time.Since(start); got != 100*time.Millisecond {
			t.Fatalf("aborted after %v", got)
		}
	})
	var none *pacer
	if !none.wait(1<<30, nil) || len(none.chunk(make([]byte, 10))) != 10 {
		t.Fatal("nil pacer must not pace")
	}
	if newPacer(0, time.Now) != nil {
		t.Fatal("rate 0 must give no pacer")
	}
}

func TestPacerDoesNotAllocate(t *testing.T) {
	p := newPacer(1<<40, time.Now) // fast enough never to sleep
	if n := testing.AllocsPerRun(1000, func() { p.wait(16<<10, nil) }); n != 0 {
		t.Fatalf("wait allocates %v per call", n)
	}
}
