package leakcheck

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Check registers a cleanup on t that fails t if goroutines started during
// the test are still running 5 s after the test (and its other cleanups)
// finished. Call it first in a test so its cleanup runs last.
func Check(t testing.TB) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		var leaked []string
		for {
			leaked = leaked[:0]
			for id, stack := range goroutines() {
				if _, ok := before[id]; !ok && !ignorable(stack) {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(leaked) > 0 {
			t.Errorf("%d goroutine(s) leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// ignorable reports goroutines a test does not own: the runtime's, and a
// library's process-wide ones.
func ignorable(stack string) bool {
	return strings.Contains(stack, "testing.tRunner") && strings.Contains(stack, "testing.(*T).Run") ||
		strings.Contains(stack, "runtime.goexit") && strings.Contains(stack, "created by runtime.gc") ||
		strings.Contains(stack, "signal.signal_recv") ||
		strings.Contains(stack, "testing.runFuzzing") ||
		strings.Contains(stack, "testing.(*F).Fuzz") ||
		// certmagic keeps one rate limiter per CA and account for the
		// life of the process and never stops it (its own TODO): bounded
		// by the CAs a process uses, so not a leak of ours.
		strings.Contains(stack, "certmagic.(*RingBufferRateLimiter).loop") ||
		// certmagic's FileStorage refreshes a lock file on a 5 s sleep and
		// notices the unlock only when it wakes: it ends by itself.
		strings.Contains(stack, "certmagic.keepLockfileFresh")
}

func goroutines() map[uint64]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[uint64]string)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		// "goroutine 12 [running]:"
		f := bytes.Fields(g)
		if len(f) < 2 || string(f[0]) != "goroutine" {
			continue
		}
		id, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			continue
		}
		out[id] = string(g)
	}
	return out
}
