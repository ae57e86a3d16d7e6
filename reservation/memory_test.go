package reservation_test

import (
	"sync"
	"testing"
	"time"

	"github.com/relayd/relayd/reservation"
	"github.com/relayd/relayd/reservation/storetest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMemory(t *testing.T) {
	clock := newClock()
	storetest.Run(t, clock, func(t *testing.T, nodes ...string) []storetest.Store {
		m := reservation.NewMemory(clock.Now)
		out := make([]storetest.Store, len(nodes))
		for i := range out {
			out[i] = m
		}
		return out
	})
}
