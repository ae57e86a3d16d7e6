package reservation_test

import (
	"testing"
	"time"

	"github.com/relayd/relayd/reservation"
	"github.com/relayd/relayd/reservation/storetest"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func TestMemory(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	storetest.Run(t, clock, func(t *testing.T) reservation.Store {
		return reservation.NewMemory(clock.Now)
	})
}
