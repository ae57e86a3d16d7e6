package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// hotLogMessages are the log messages of refusal paths a flood can drive:
// a scanner or a misbehaving client turns each into thousands of lines a
// second once debug logging is on.
var hotLogMessages = []string{
	"hop refused",
	"too many handshakes in flight, dropping connection",
	"inbound handshake failed",
	"too many streams, resetting new one",
	"connection refused",
	"mesh handshake failed",
	"too many mesh handshakes, dropping",
}

// Per key (message and reason): a burst of 10 lines, then one a second.
const (
	hotLogRate  = rate.Limit(1)
	hotLogBurst = 10
	// maxLogKeys bounds the limiter map; reasons are a short fixed list,
	// so overflowing it means a bug, and the overflow shares one key.
	maxLogKeys = 256
)

// rateLimitHandler passes records to next, except records with a limited
// message: those pass at a bounded rate per (message, "reason" attribute)
// key, so a flood of one refusal cannot hide the others. The first record
// let through after some were dropped carries suppressed=<count>.
type rateLimitHandler struct {
	next slog.Handler
	lim  *keyedLimiter // shared by the WithAttrs/WithGroup children
}

func newRateLimitHandler(next slog.Handler, msgs []string, r rate.Limit, burst int, now func() time.Time) *rateLimitHandler {
	k := &keyedLimiter{msgs: make(map[string]bool), r: r, burst: burst, now: now, keys: make(map[string]*keyState)}
	for _, m := range msgs {
		k.msgs[m] = true
	}
	return &rateLimitHandler{next: next, lim: k}
}

func (h *rateLimitHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *rateLimitHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.lim.msgs[r.Message] {
		return h.next.Handle(ctx, r)
	}
	ok, dropped := h.lim.allow(r.Message + "\x00" + reasonOf(r))
	if !ok {
		return nil
	}
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", dropped))
	}
	return h.next.Handle(ctx, r)
}

func (h *rateLimitHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &rateLimitHandler{next: h.next.WithAttrs(as), lim: h.lim}
}

func (h *rateLimitHandler) WithGroup(name string) slog.Handler {
	return &rateLimitHandler{next: h.next.WithGroup(name), lim: h.lim}
}

func reasonOf(r slog.Record) string {
	var reason string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			reason = a.Value.String()
			return false
		}
		return true
	})
	return reason
}

// keyedLimiter is a token bucket per key.
type keyedLimiter struct {
	msgs  map[string]bool // read-only after construction
	r     rate.Limit
	burst int
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*keyState
}

type keyState struct {
	lim     *rate.Limiter
	dropped int
}

// allow reports whether a record for key may pass and, if so, how many
// were dropped since the last one that passed.
func (k *keyedLimiter) allow(key string) (ok bool, dropped int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.keys[key]
	if st == nil {
		if len(k.keys) >= maxLogKeys {
			key = ""
			st = k.keys[key]
		}
		if st == nil {
			st = &keyState{lim: rate.NewLimiter(k.r, k.burst)}
			k.keys[key] = st
		}
	}
	if !st.lim.AllowN(k.now(), 1) {
		st.dropped++
		return false, 0
	}
	dropped, st.dropped = st.dropped, 0
	return true, dropped
}
