package host

import (
	"crypto/ed25519"
	"crypto/rand"
	"runtime"
	"testing"

	"github.com/relayd/relayd/internal/leakcheck"
)

// TestWorkersReuseAndClose: tasks started one after another run on the
// workers that ran the earlier ones instead of new goroutines, and Close
// ends the idle workers (leakcheck).
func TestWorkersReuseAndClose(t *testing.T) {
	leakcheck.Check(t)
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h, err := New(Config{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	const tasks = 50
	for range tasks {
		done := make(chan struct{})
		if !h.goTask(func() { close(done) }) {
			t.Fatal("goTask refused on an open host")
		}
		<-done
		// Every worker idles before the next task is handed out.
		for int64(h.workers.idle.Load()) != h.workers.spawned.Load() {
			if t.Context().Err() != nil {
				t.Fatal("workers never went idle")
			}
			runtime.Gosched()
		}
	}
	// A worker counts itself idle just before it waits, so a task can
	// now and then miss it and start a new one; never most of the time.
	if n := h.workers.spawned.Load(); n > tasks/2 {
		t.Errorf("%d workers started for %d tasks in a row, want the idle ones reused", n, tasks)
	}
	h.Close()
	if h.goTask(func() { t.Error("task ran after Close") }) {
		t.Error("goTask accepted a task after Close")
	}
}
