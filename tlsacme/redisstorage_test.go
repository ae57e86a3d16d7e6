package tlsacme

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/internal/redistest"
)

func newTestRedisStorage(t *testing.T, rdb redis.UniversalClient, ttl time.Duration) *RedisStorage {
	t.Helper()
	s, err := NewRedisStorage(RedisStorageConfig{Client: rdb, Prefix: "test:{acme}:", LockTTL: ttl, LockPoll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func redisClient(t *testing.T, addr string) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestRedisStorageFiles: store, load, stat, list and delete against a
// real redis-server, with certmagic's file-system semantics.
func TestRedisStorageFiles(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	s := newTestRedisStorage(t, redisClient(t, srv.Addr), time.Second)
	ctx := context.Background()
	files := map[string]string{
		"certificates/ca/a.test/a.test.crt":  "cert-a",
		"certificates/ca/a.test/a.test.key":  "key-a",
		"certificates/ca/b.test/b.test.crt":  "cert-b",
		"acme/ca/users/x@y.test/x.json":      "user",
		"certificates/cab/c.test/c.test.crt": "not under certificates/ca",
	}
	for k, v := range files {
		if err := s.Store(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range files {
		got, err := s.Load(ctx, k)
		if err != nil || string(got) != v {
			t.Errorf("Load(%s) = %q, %v; want %q", k, got, err, v)
		}
	}

	if _, err := s.Load(ctx, "certificates/ca"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(directory) err = %v, want fs.ErrNotExist", err)
	}
	if _, err := s.Load(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) err = %v, want fs.ErrNotExist", err)
	}

	for _, tc := range []struct {
		dir       string
		recursive bool
		want      []string
	}{
		{"certificates/ca", false, []string{"certificates/ca/a.test", "certificates/ca/b.test"}},
		{"certificates/ca", true, []string{
			"certificates/ca/a.test", "certificates/ca/a.test/a.test.crt", "certificates/ca/a.test/a.test.key",
			"certificates/ca/b.test", "certificates/ca/b.test/b.test.crt"}},
		{"certificates", false, []string{"certificates/ca", "certificates/cab"}},
		{"", false, []string{"acme", "certificates"}},
	} {
		got, err := s.List(ctx, tc.dir, tc.recursive)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("List(%q, %v) = %q, %v; want %q", tc.dir, tc.recursive, got, err, tc.want)
		}
	}
	if _, err := s.List(ctx, "certificates/zz", true); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List(missing) err = %v, want fs.ErrNotExist", err)
	}

	info, err := s.Stat(ctx, "certificates/ca/a.test/a.test.crt")
	if err != nil || !info.IsTerminal || info.Size != int64(len("cert-a")) || time.Since(info.Modified) > time.Hour {
		t.Errorf("Stat(file) = %+v, %v", info, err)
	}
	info, err = s.Stat(ctx, "certificates/ca")
	if err != nil || info.IsTerminal {
		t.Errorf("Stat(dir) = %+v, %v; want a directory", info, err)
	}
	if _, err := s.Stat(ctx, "certificates/c"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(partial name) err = %v, want fs.ErrNotExist", err)
	}
	if !s.Exists(ctx, "certificates/ca/b.test") || s.Exists(ctx, "certificates/ca/z.test") {
		t.Error("Exists is wrong for a directory or a missing key")
	}

	if err := s.Delete(ctx, "certificates/ca"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "certificates/ca"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	if s.Exists(ctx, "certificates/ca/a.test/a.test.key") || s.Exists(ctx, "certificates/ca") {
		t.Error("Delete(directory) left keys under it")
	}
	if !s.Exists(ctx, "certificates/cab/c.test/c.test.crt") {
		t.Error("Delete(certificates/ca) removed certificates/cab")
	}
}

// TestRedisStorageLockContention: a second Lock waits for Unlock, and a
// Lock whose context ends gives up with the context's error.
func TestRedisStorageLockContention(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	a := newTestRedisStorage(t, redisClient(t, srv.Addr), 300*time.Millisecond)
	b := newTestRedisStorage(t, redisClient(t, srv.Addr), 300*time.Millisecond)
	ctx := context.Background()
	if err := a.Lock(ctx, "issue_cert_x"); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Lock(short, "issue_cert_x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a done context = %v, want context.Canceled", err)
	}
	if err := b.Lock(ctx, "other"); err != nil {
		t.Fatalf("a different lock name must not wait: %v", err)
	}

	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, "issue_cert_x") }()
	select {
	case err := <-got:
		t.Fatalf("second Lock returned %v while the first holder still has it", err)
	case <-time.After(time.Second): // over three lock TTLs: the holder's renewal keeps it
	}
	if err := a.Unlock(ctx, "issue_cert_x"); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx, "issue_cert_x"); err == nil {
		t.Error("Unlock of a lock no longer held succeeded")
	}
	if err := b.Unlock(ctx, "issue_cert_x"); err != nil {
		t.Fatal(err)
	}
	b.Unlock(ctx, "other")
}

// TestRedisStorageLockExpiry: a holder that stops renewing (a dead node)
// loses the lock after its TTL, and its late Unlock cannot release the
// new holder's lock.
func TestRedisStorageLockExpiry(t *testing.T) {
	leakcheck.Check(t)
	srv := redistest.Start(t)
	a := newTestRedisStorage(t, redisClient(t, srv.Addr), 300*time.Millisecond)
	b := newTestRedisStorage(t, redisClient(t, srv.Addr), 300*time.Millisecond)
	ctx := context.Background()
	if err := a.Lock(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.locks["l"].stop() // the node dies: no more renewals
	a.mu.Unlock()
	if err := b.Lock(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	tok, err := b.rdb.Get(ctx, b.lockKey("l")).Result()
	if err != nil || tok != b.locks["l"].token {
		t.Fatalf("after the stale holder's Unlock the lock is %q, %v; want b's token", tok, err)
	}
	b.Unlock(ctx, "l")
}

// TestRedisStorageCluster: the same operations on a 3-master Redis
// Cluster; the hash tag keeps each script in one slot.
func TestRedisStorageCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Redis Cluster run")
	}
	leakcheck.Check(t)
	c := redistest.StartCluster(t)
	opts, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClusterClient(opts)
	t.Cleanup(func() { rdb.Close() })
	s := newTestRedisStorage(t, rdb, time.Second)
	ctx := context.Background()
	if err := s.Store(ctx, "a/b", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Lock(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "a/b") {
		t.Error("Delete left a/b")
	}
}
