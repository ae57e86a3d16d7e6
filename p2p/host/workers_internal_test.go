package host

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/relayd/relayd/internal/leakcheck"
)

// TestWorkersReuseAndClose: a task started while a worker idles runs on
// that worker, and Close ends idle workers (leakcheck).
func TestWorkersReuseAndClose(t *testing.T) {
	leakcheck.Check(t)
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h, err := New(Config{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	if !h.goTask(func() { close(done) }) {
		t.Fatal("goTask refused on an open host")
	}
	<-done
	// The worker goes idle after its task; wait until it is.
	for h.workers.idle.Load() != 1 {
		select {
		case <-t.Context().Done():
			t.Fatal("worker never went idle")
		default:
		}
	}
	idleDuring := make(chan int32, 1)
	if !h.goTask(func() { idleDuring <- h.workers.idle.Load() }) {
		t.Fatal("goTask refused on an open host")
	}
	// The idle worker took the task: none idles while it runs. A new
	// goroutine would have left the first one idle.
	if n := <-idleDuring; n != 0 {
		t.Errorf("%d idle workers while the second task ran, want 0 (the idle one reused)", n)
	}
	h.Close() // ends the idle worker; leakcheck checks
	if h.goTask(func() { t.Error("task ran after Close") }) {
		t.Error("goTask accepted a task after Close")
	}
}
