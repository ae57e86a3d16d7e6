package relay

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRateLimitHandler(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var buf bytes.Buffer
	next := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	h := newRateLimitHandler(next, []string{"hop refused"}, 1, 3, func() time.Time { return now })
	log := slog.New(h).With("component", "circuit")

	type step struct {
		advance time.Duration
		msg     string
		reason  string
		want    string // substring of the line written; "" means dropped
	}
	steps := []step{
		{0, "hop refused", "no_reservation", "reason=no_reservation"},
		{0, "hop refused", "no_reservation", "reason=no_reservation"},
		{0, "hop refused", "no_reservation", "reason=no_reservation"},
		{0, "hop refused", "no_reservation", ""}, // burst of 3 spent
		{0, "hop refused", "no_reservation", ""},
		{0, "hop refused", "total_quota", "reason=total_quota"}, // own key
		{0, "circuit opened", "", "circuit opened"},             // not limited
		{time.Second, "hop refused", "no_reservation", "suppressed=2"},
		{0, "hop refused", "no_reservation", ""},
		{2 * time.Second, "hop refused", "no_reservation", "component=circuit reason=no_reservation suppressed=1"},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		buf.Reset()
		log.Debug(s.msg, "reason", s.reason)
		switch got := buf.String(); {
		case s.want == "" && got != "":
			t.Errorf("step %d: logged %q, want it dropped", i, got)
		case s.want != "" && !strings.Contains(got, s.want):
			t.Errorf("step %d: logged %q, want it to contain %q", i, got, s.want)
		}
	}
}

func TestRateLimitHandlerEnabledAndKeyCap(t *testing.T) {
	var buf bytes.Buffer
	next := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	now := time.Unix(0, 0)
	h := newRateLimitHandler(next, []string{"hop refused"}, 1, 1, func() time.Time { return now })
	if h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug enabled under an info handler")
	}
	for i := range 2 * maxLogKeys {
		h.lim.allow(strings.Repeat("k", i+1))
	}
	if n := len(h.lim.keys); n > maxLogKeys+1 {
		t.Errorf("%d keys held, want at most %d", n, maxLogKeys+1)
	}
}
