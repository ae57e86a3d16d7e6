package circuit

import "time"

// pacer shapes one direction of a circuit to a byte rate: a token bucket
// the copy loop draws from after each read, sleeping off any debt before
// it writes. Waiting to read more lets yamux's flow control push back on
// the sender, so a paced circuit slows down instead of being cut. It holds
// one timer, reused, so a paced copy allocates nothing per buffer.
type pacer struct {
	rate   float64 // bytes per second
	burst  float64 // bytes
	tokens float64
	last   time.Time
	now    func() time.Time
	timer  *time.Timer
}

// Pacing burst: 50 ms of the rate, within [1 KiB, spliceBufSize]. Small
// enough that a measured rate is the cap within a few percent after a
// second; large enough that a fast cap does not turn into tiny writes.
const (
	paceWindow   = 50 * time.Millisecond
	minPaceBurst = 1 << 10
)

// newPacer returns a pacer for rate bytes a second, or nil (no pacing) when
// rate is 0 or less. A nil *pacer never waits.
func newPacer(rate int64, now func() time.Time) *pacer {
	if rate <= 0 {
		return nil
	}
	burst := min(max(float64(rate)*paceWindow.Seconds(), minPaceBurst), spliceBufSize)
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pacer{rate: float64(rate), burst: burst, tokens: burst, last: now(), now: now, timer: t}
}

// chunk is how much of buf the next read may fill: at most a burst.
func (p *pacer) chunk(buf []byte) []byte {
	if p == nil || len(buf) <= int(p.burst) {
		return buf
	}
	return buf[:int(p.burst)]
}

// wait takes n bytes' worth of tokens, first sleeping until the bucket is
// out of debt. It reports false if done closed before then.
func (p *pacer) wait(n int, done <-chan struct{}) bool {
	if p == nil {
		return true
	}
	now := p.now()
	p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	p.last = now
	p.tokens -= float64(n)
	if p.tokens >= 0 {
		return true
	}
	p.timer.Reset(time.Duration(-p.tokens / p.rate * float64(time.Second)))
	select {
	case <-p.timer.C:
		return true
	case <-done:
		p.timer.Stop()
		return false
	}
}
