package fleet

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/redistest"
	"github.com/relayd/relayd/limiter"
)

// TestRedisHangs: a Redis that stops answering without closing
// connections (SIGSTOP: a stuck server or a black-holed network) costs
// one operation timeout; the node then admits locally without asking it,
// and re-registers when it answers again.
func TestRedisHangs(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	pid := serverPID(t, srv.Addr)
	lim, _ := limiter.New(limiter.Config{})
	a, err := New(Config{URL: srv.URL(), NodeID: "a", Prefix: "hang:", OpTimeout: 200 * time.Millisecond}, lim)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := reserve(t, a, peerAt(t, "192.0.2.1")); err != nil {
		t.Fatal(err)
	}

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	cont := func() {
		if stopped {
			syscall.Kill(pid, syscall.SIGCONT)
			stopped = false
		}
	}
	t.Cleanup(cont) // before redistest's Stop, which runs later
	for i := range 2 {
		if err := reserve(t, a, peerAt(t, "192.0.2."+strconv.Itoa(2+i))); err != nil {
			t.Fatalf("reserve %d with Redis hanging: %v", i, err)
		}
	}
	if a.Up() {
		t.Fatal("node still up with Redis hanging")
	}
	cont()
	a.beat()
	if !a.Up() {
		t.Fatalf("not up after Redis answered again: %s", a.State())
	}
	if n := fleetCount(t, a); n != 3 {
		t.Fatalf("fleet holds %d, want 3", n)
	}
}

// serverPID asks the server for its process ID.
func serverPID(t *testing.T, addr string) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatal("no process_id in INFO server")
	return 0
}
