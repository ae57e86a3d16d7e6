package tlsacme

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
)

// RedisStorageConfig configures NewRedisStorage.
type RedisStorageConfig struct {
	// Client is the Redis connection (single node, failover or Cluster).
	// Required.
	Client redis.UniversalClient
	// Prefix starts every key. It must hold a Redis Cluster hash tag
	// ("{…}") so that a file and the key index share one slot and change
	// together in one script; a prefix without one gets "{acme}:" appended.
	// Default "relayd:{acme}:".
	Prefix string
	// LockTTL is how long a lock outlives its holder: a holder renews it
	// every LockTTL/3, so a node that dies stops blocking the fleet after
	// at most LockTTL. Default 30 s.
	LockTTL time.Duration
	// LockPoll is how often a waiting Lock retries. Default 500 ms.
	LockPoll time.Duration
	// Logger receives lost-lock warnings. Default: discard.
	Logger *slog.Logger
}

// RedisStorage is a certmagic.Storage in Redis, shared by a fleet: every
// file is a hash (value and modification time) and one set indexes all
// file keys, which List and directory Delete read (ACME storage holds tens
// of keys, so a whole-index read is cheap and needs no SCAN across Cluster
// nodes). Locks are SET NX PX with a random token, renewed by their holder
// and released by a compare-and-delete.
type RedisStorage struct {
	cfg RedisStorageConfig
	rdb redis.UniversalClient
	log *slog.Logger

	mu     sync.Mutex
	locks  map[string]*heldLock // by lock name
	closed bool
	wg     sync.WaitGroup
}

type heldLock struct {
	token string
	stop  context.CancelFunc
}

var _ certmagic.Storage = (*RedisStorage)(nil)

// NewRedisStorage returns a storage on cfg.Client. Close stops the lock
// renewals; it does not close the client, which the caller owns.
func NewRedisStorage(cfg RedisStorageConfig) (*RedisStorage, error) {
	if cfg.Client == nil {
		return nil, errors.New("tlsacme: redis storage needs a client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "relayd:{acme}:"
	}
	if !strings.Contains(cfg.Prefix, "{") {
		cfg.Prefix += "{acme}:"
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 30 * time.Second
	}
	if cfg.LockPoll <= 0 {
		cfg.LockPoll = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &RedisStorage{cfg: cfg, rdb: cfg.Client, log: cfg.Logger, locks: make(map[string]*heldLock)}, nil
}

func (s *RedisStorage) fileKey(key string) string { return s.cfg.Prefix + "f:" + key }
func (s *RedisStorage) indexKey() string          { return s.cfg.Prefix + "index" }
func (s *RedisStorage) lockKey(name string) string {
	return s.cfg.Prefix + "lock:" + name
}

// storeScript writes a file and indexes it in one step, so List never
// names a file Load cannot find.
var storeScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'm', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1`)

// Store puts value at key.
func (s *RedisStorage) Store(ctx context.Context, key string, value []byte) error {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	err := storeScript.Run(ctx, s.rdb, []string{s.fileKey(key), s.indexKey()}, value, now, key).Err()
	if err != nil {
		return fmt.Errorf("redis storage: store %s: %w", key, err)
	}
	return nil
}

// Load returns the value at key, or an error wrapping fs.ErrNotExist.
func (s *RedisStorage) Load(ctx context.Context, key string) ([]byte, error) {
	v, err := s.rdb.HGet(ctx, s.fileKey(key), "v").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis storage: %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("redis storage: load %s: %w", key, err)
	}
	return v, nil
}

// deleteScript removes files and their index entries together:
// KEYS[1] is the index, KEYS[2…] the files, ARGV the index members.
var deleteScript = redis.NewScript(`
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
for i = 1, #ARGV do redis.call('SREM', KEYS[1], ARGV[i]) end
return 1`)

// Delete removes key and, if it is a directory, every key under it. A
// missing key is not an error.
func (s *RedisStorage) Delete(ctx context.Context, key string) error {
	all, err := s.index(ctx)
	if err != nil {
		return err
	}
	keys := []string{s.indexKey()}
	var members []any
	for _, k := range all {
		if k == key || under(k, key) {
			keys = append(keys, s.fileKey(k))
			members = append(members, k)
		}
	}
	if len(members) == 0 {
		return nil
	}
	if err := deleteScript.Run(ctx, s.rdb, keys, members...).Err(); err != nil {
		return fmt.Errorf("redis storage: delete %s: %w", key, err)
	}
	return nil
}

// Exists reports whether key is a file or a directory.
func (s *RedisStorage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// List returns the keys directly under dir, or with recursive every key
// and directory below it. A dir with nothing under it is fs.ErrNotExist.
func (s *RedisStorage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	all, err := s.index(ctx)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool)
	for _, k := range all {
		if !under(k, dir) {
			continue
		}
		rest := strings.TrimPrefix(k, dir)
		rest = strings.TrimPrefix(rest, "/")
		parts := strings.Split(rest, "/")
		if !recursive {
			parts = parts[:1]
		}
		p := dir
		for _, part := range parts {
			p = path.Join(p, part)
			seen[p] = true
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("redis storage: %s: %w", dir, fs.ErrNotExist)
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

// Stat describes a file, or a directory (IsTerminal false) that has files
// under it.
func (s *RedisStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	res, err := s.rdb.HMGet(ctx, s.fileKey(key), "m", "v").Result()
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("redis storage: stat %s: %w", key, err)
	}
	if m, ok := res[0].(string); ok {
		ms, _ := strconv.ParseInt(m, 10, 64)
		v, _ := res[1].(string)
		return certmagic.KeyInfo{Key: key, Modified: time.UnixMilli(ms), Size: int64(len(v)), IsTerminal: true}, nil
	}
	all, err := s.index(ctx)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	for _, k := range all {
		if under(k, key) {
			return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
		}
	}
	return certmagic.KeyInfo{}, fmt.Errorf("redis storage: %s: %w", key, fs.ErrNotExist)
}

func (s *RedisStorage) index(ctx context.Context) ([]string, error) {
	all, err := s.rdb.SMembers(ctx, s.indexKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis storage: read index: %w", err)
	}
	return all, nil
}

// under reports whether key lies below dir ("" is the root).
func under(key, dir string) bool {
	return dir == "" || strings.HasPrefix(key, dir+"/")
}

// Lock takes the named lock, waiting (every LockPoll) while another
// holder has it, until ctx is done. The lock lives LockTTL and is renewed
// until Unlock or Close.
func (s *RedisStorage) Lock(ctx context.Context, name string) error {
	token, err := newToken()
	if err != nil {
		return err
	}
	t := time.NewTicker(s.cfg.LockPoll)
	defer t.Stop()
	for {
		ok, err := s.rdb.SetNX(ctx, s.lockKey(name), token, s.cfg.LockTTL).Result()
		if err != nil {
			return fmt.Errorf("redis storage: lock %s: %w", name, err)
		}
		if ok {
			return s.hold(name, token)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis storage: lock %s: %w", name, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// hold records a taken lock and starts its renewal.
func (s *RedisStorage) hold(name, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.rdb.Eval(context.Background(), unlockSrc, []string{s.lockKey(name)}, token)
		return errors.New("redis storage: closed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.locks[name] = &heldLock{token: token, stop: cancel}
	s.wg.Go(func() { s.renew(ctx, name, token) })
	return nil
}

// renewScript extends a lock only while it is still ours.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// renew keeps the lock alive until ctx ends. A lock found gone or taken
// (Redis lost it, or this process stalled past LockTTL) is logged and no
// longer renewed: the work it guards is idempotent, and certmagic checks
// storage again before ordering.
func (s *RedisStorage) renew(ctx context.Context, name, token string) {
	t := time.NewTicker(s.cfg.LockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := renewScript.Run(ctx, s.rdb, []string{s.lockKey(name)}, token, s.cfg.LockTTL.Milliseconds()).Int()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("acme storage lock renewal failed", "lock", name, "err", err)
			}
			continue
		}
		if n == 0 {
			s.log.Warn("acme storage lock lost before unlock", "lock", name)
			return
		}
	}
}

const unlockSrc = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`

var unlockScript = redis.NewScript(unlockSrc)

// Unlock releases a lock taken by Lock, only if it is still ours.
func (s *RedisStorage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.locks[name]
	delete(s.locks, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("redis storage: unlock %s: not held", name)
	}
	h.stop()
	if err := unlockScript.Run(ctx, s.rdb, []string{s.lockKey(name)}, h.token).Err(); err != nil {
		return fmt.Errorf("redis storage: unlock %s: %w", name, err)
	}
	return nil
}

// Close stops renewing the locks still held (they expire after LockTTL)
// and waits for the renewals to end.
func (s *RedisStorage) Close() error {
	s.mu.Lock()
	s.closed = true
	for name, h := range s.locks {
		h.stop()
		delete(s.locks, name)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// String names the storage in certmagic's logs.
func (s *RedisStorage) String() string { return "redis:" + s.cfg.Prefix }

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
