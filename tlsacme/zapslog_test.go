package tlsacme

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestZapToSlog: certmagic's zap entries reach the slog handler with their
// level, logger name, With fields and entry fields; levels the handler
// drops are never encoded.
func TestZapToSlog(t *testing.T) {
	var buf bytes.Buffer
	zl := newZapLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l := zl.Named("obtain").With(zap.String("identifier", "relay.example.com"))
	l.Debug("dropped")
	l.Warn("will retry", zap.Duration("retrying_in", time.Minute), zap.Error(errors.New("boom")), zap.Int("attempt", 2))
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("want one JSON line, got %q: %v", buf.String(), err)
	}
	want := map[string]any{
		"level": "WARN", "msg": "will retry", "logger": "obtain", "identifier": "relay.example.com",
		"retrying_in": float64(time.Minute), "error": "boom", "attempt": float64(2),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], v)
		}
	}
}
