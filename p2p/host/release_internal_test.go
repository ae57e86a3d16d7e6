package host

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"
)

func TestReleaseDue(t *testing.T) {
	p := releasePolicy{after: 512}
	for _, tc := range []struct {
		burst int64
		conns int
		want  bool
	}{
		{burst: 0, conns: 0, want: false},
		{burst: 511, conns: 511, want: false},
		{burst: 512, conns: 512, want: true},
		{burst: 512, conns: 4096, want: true},
		{burst: 512, conns: 4104, want: false}, // under an eighth
		{burst: 12500, conns: 100000, want: true},
		{burst: 12499, conns: 100000, want: false},
	} {
		if got := p.due(tc.burst, tc.conns); got != tc.want {
			t.Errorf("due(%d events, %d conns) = %v, want %v", tc.burst, tc.conns, got, tc.want)
		}
	}
}

// TestReleaseAfterBurst: a burst of new connections is followed by one
// release once it settles, and none without new connections.
func TestReleaseAfterBurst(t *testing.T) {
	const quiet = 20 * time.Millisecond
	srv := parkHost(t, -1, tcpLoopback)
	srv.release = releasePolicy{after: 3, quiet: quiet}
	cli := parkHost(t, -1, "")
	for burst := int64(1); burst <= 2; burst++ {
		for range 3 {
			parkedPair(t, srv, cli)
		}
		waitUntil(t, 10*time.Second, "a release after the burst", func() bool { return srv.releases.Load() >= burst })
		time.Sleep(5 * quiet)
		if n := srv.releases.Load(); n != burst {
			t.Fatalf("after burst %d and a quiet time: %d releases, want %d", burst, n, burst)
		}
	}
}

// TestParksCountForRelease: parked connections count as events too (the
// memory their sessions held is what a release hands back on TCP).
func TestParksCountForRelease(t *testing.T) {
	srv := parkHost(t, 20*time.Millisecond, tcpLoopback)
	cli := parkHost(t, -1, "")
	_, sc := parkedPair(t, srv, cli)
	waitParked(t, sc, 0)
	if n := srv.connEvents.Load(); n < 2 {
		t.Fatalf("%d connection events after one connection parked, want 2 or more", n)
	}
}

// TestReleaseOff: a negative ReleaseAfter never starts the releaser.
func TestReleaseOff(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct{ cfg, want int }{{0, releaseAfter}, {-1, -1}, {3, 3}} {
		h, err := New(Config{Key: k, ReleaseAfter: tc.cfg})
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
		if h.release.after != int64(tc.want) {
			t.Errorf("ReleaseAfter %d: release after %d connections, want %d", tc.cfg, h.release.after, tc.want)
		}
	}
	srv := parkHost(t, -1, tcpLoopback)
	srv.release.after = -1
	parkedPair(t, srv, parkHost(t, -1, ""))
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.releasing {
		t.Error("the releaser started with ReleaseAfter negative")
	}
}
