package reservation

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/ratelimit"
)

// Quota refusals of Redis.Reserve.
var (
	ErrTotalQuota  = errors.New("fleet reservation quota reached")
	ErrIPQuota     = errors.New("fleet reservations per IP reached")
	ErrSubnetQuota = errors.New("fleet reservations per subnet reached")
)

// ErrNodeGone means a node's heartbeat has expired (or it never had one).
var ErrNodeGone = errors.New("node gone")

// DefaultPrefix namespaces every key relayd writes.
const DefaultPrefix = "relayd:"

// RedisConfig configures a Redis store. Zero values mean the defaults
// written on each field.
type RedisConfig struct {
	// Client is a single, Sentinel (failover) or Cluster client. Required.
	Client redis.UniversalClient
	// Prefix starts every key. It must not contain "{" or "}": the keys'
	// hash tag follows it. Default "relayd:".
	Prefix string
	// Node is the node this store instance writes for: Sweep reports its
	// expired reservations, Heartbeat and Leave are its. Required.
	Node string
	// Now is the clock; scripts compare expiries with it, never with
	// Redis's own, so all nodes must keep time (NTP). Default time.Now.
	Now func() time.Time
	// ReapBatch caps how many dead nodes' entries one script removes, so a
	// dead node with many reservations never blocks Redis for long.
	// Default 256.
	ReapBatch int
}

// Quota is what Reserve checks atomically with the write. A negative cap
// is none. Per IP counts ratelimit.IPKey groups (an IPv4 address, an IPv6
// /64), per subnet ratelimit.SubnetKey groups (/24, /56).
type Quota struct {
	Total, PerIP, PerSubnet int
}

// NoQuota checks nothing.
var NoQuota = Quota{Total: -1, PerIP: -1, PerSubnet: -1}

// Redis is the Store a fleet shares. See REDIS.md for the keys and
// scripts. Liveness: a reservation reads as absent, and stops counting
// against quotas, once its node's heartbeat (Heartbeat) has lapsed; a node
// that never sent one holds nothing.
type Redis struct {
	c     redis.UniversalClient
	p     string // Prefix + "{fleet}:"
	node  string
	now   func() time.Time
	batch int
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store on cfg.Client. It sends nothing to Redis.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.Client == nil {
		return nil, errors.New("reservation: RedisConfig.Client is required")
	}
	if cfg.Node == "" {
		return nil, errors.New("reservation: RedisConfig.Node is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, fmt.Errorf("reservation: prefix %q must not contain { or }", cfg.Prefix)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReapBatch <= 0 {
		cfg.ReapBatch = 256
	}
	return &Redis{c: cfg.Client, p: cfg.Prefix + "{fleet}:", node: cfg.Node, now: cfg.Now, batch: cfg.ReapBatch}, nil
}

// Node is the node this store writes for.
func (s *Redis) Node() string { return s.node }

var (
	//go:embed lua/lib.lua
	luaLib string
	//go:embed lua/reserve.lua
	luaReserve string
	//go:embed lua/get.lua
	luaGet string
	//go:embed lua/delete.lua
	luaDelete string
	//go:embed lua/sweep.lua
	luaSweep string
	//go:embed lua/heartbeat.lua
	luaHeartbeat string
	//go:embed lua/leave.lua
	luaLeave string
	//go:embed lua/meshaddr.lua
	luaMeshAddr string
)

func script(body string) *redis.Script { return redis.NewScript(luaLib + "\n" + body) }

var (
	scriptReserve   = script(luaReserve)
	scriptGet       = script(luaGet)
	scriptDelete    = script(luaDelete)
	scriptSweep     = script(luaSweep)
	scriptHeartbeat = script(luaHeartbeat)
	scriptLeave     = script(luaLeave)
	scriptMeshAddr  = script(luaMeshAddr)
)

func (s *Redis) key(parts ...string) string { return s.p + strings.Join(parts, ":") }

func ms(t time.Time) int64 { return t.UnixMilli() }

func (s *Redis) nodePeers(node string) string { return s.key("node", node, "peers") }

// groups are the per-IP and per-subnet index names of addr; empty when
// addr is invalid.
func groups(addr netip.Addr) (ip, subnet string) {
	if k := ratelimit.IPKey(addr); k.IsValid() {
		ip = k.String()
	}
	if k := ratelimit.SubnetKey(addr); k.IsValid() {
		subnet = k.String()
	}
	return ip, subnet
}

// Reserve is Put under q, checked and written in one script: it takes the
// peer's slot (or refreshes it, moving it to r.Node) only if the fleet's
// total, the peer's IP and its subnet have room, else it fails with
// ErrTotalQuota, ErrIPQuota or ErrSubnetQuota. A refresh from the same IP
// is never refused. Two nodes reserving one peer at once end with one
// slot: the later write wins the record.
func (s *Redis) Reserve(ctx context.Context, r Reservation, q Quota) (refreshed bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("reservation: reserve %s: %w", r.Peer, err)
	}
	keys, args := s.reserveArgs(r, q, false)
	v, err := scriptReserve.Run(ctx, s.c, keys, args...).Result()
	if err != nil {
		return false, fmt.Errorf("reservation: reserve %s: %w", r.Peer, err)
	}
	switch v {
	case int64(1):
		return true, nil
	case int64(0):
		return false, nil
	case "total":
		return false, ErrTotalQuota
	case "ip":
		return false, ErrIPQuota
	case "net":
		return false, ErrSubnetQuota
	}
	return false, fmt.Errorf("reservation: reserve %s: unexpected reply %v", r.Peer, v)
}

// reserveArgs are the reserve script's KEYS and ARGV for r under q;
// register never takes a live slot over from another node.
func (s *Redis) reserveArgs(r Reservation, q Quota, register bool) ([]string, []any) {
	ip, subnet := groups(r.Addr)
	addr := ""
	if r.Addr.IsValid() {
		addr = r.Addr.String()
	}
	reg := "0"
	if register {
		reg = "1"
	}
	peer := r.Peer.String()
	keys := []string{s.key("res", peer), s.key("all"), s.key("nodes"), s.nodePeers(r.Node), s.key("ip", ip), s.key("net", subnet)}
	return keys, []any{s.p, ms(s.now()), peer, r.Node, ms(r.Expire), addr, ip, subnet,
		q.Total, q.PerIP, q.PerSubnet, s.batch, reg}
}

// syncBatch is how many writes Sync pipelines in one round trip.
const syncBatch = 512

// putAll writes rs without quota checks, pipelined: a node re-registering
// 100k reservations must not pay 100k round trips.
func (s *Redis) putAll(ctx context.Context, rs []Reservation) error {
	if err := scriptReserve.Load(ctx, s.c).Err(); err != nil {
		return err
	}
	for len(rs) > 0 {
		n := min(len(rs), syncBatch)
		pipe := s.c.Pipeline()
		for _, r := range rs[:n] {
			keys, args := s.reserveArgs(r, NoQuota, true)
			scriptReserve.EvalSha(ctx, pipe, keys, args...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		rs = rs[n:]
	}
	return nil
}

// Put records r without quota checks.
func (s *Redis) Put(ctx context.Context, r Reservation) (bool, error) {
	return s.Reserve(ctx, r, NoQuota)
}

// Get returns the peer's reservation if it is live and its node is alive.
func (s *Redis) Get(ctx context.Context, peer identity.PeerID) (Reservation, error) {
	if err := ctx.Err(); err != nil {
		return Reservation{}, fmt.Errorf("reservation: get %s: %w", peer, err)
	}
	v, err := scriptGet.Run(ctx, s.c, []string{s.key("res", peer.String()), s.key("nodes")},
		s.p, ms(s.now()), peer.String()).StringSlice()
	if errors.Is(err, redis.Nil) {
		return Reservation{}, ErrNotFound
	}
	if err != nil {
		return Reservation{}, fmt.Errorf("reservation: get %s: %w", peer, err)
	}
	if len(v) != 3 {
		return Reservation{}, fmt.Errorf("reservation: get %s: unexpected reply %q", peer, v)
	}
	return parseRecord(peer, v[0], v[1], v[2])
}

func parseRecord(peer identity.PeerID, node, exp, addr string) (Reservation, error) {
	r := Reservation{Peer: peer, Node: node}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return Reservation{}, fmt.Errorf("reservation: record of %s: bad expiry %q", peer, exp)
	}
	r.Expire = time.UnixMilli(n)
	if addr != "" {
		if r.Addr, err = netip.ParseAddr(addr); err != nil {
			return Reservation{}, fmt.Errorf("reservation: record of %s: bad address %q", peer, addr)
		}
	}
	return r, nil
}

// Delete drops the peer's reservation if node holds it.
func (s *Redis) Delete(ctx context.Context, peer identity.PeerID, node string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reservation: delete %s: %w", peer, err)
	}
	keys := []string{s.key("res", peer.String()), s.key("all"), s.nodePeers(node)}
	if err := scriptDelete.Run(ctx, s.c, keys, s.p, ms(s.now()), peer.String(), node).Err(); err != nil {
		return fmt.Errorf("reservation: delete %s: %w", peer, err)
	}
	return nil
}

// Sweep removes this store's node's reservations expired at now and
// returns them (Addr is unset for a record Redis already expired). Other
// nodes' entries are none of its business: expiry needs no sweep (an
// expired entry reads absent and stops counting at once; Redis drops its
// keys by TTL), so Sweep only tells the holding node what it must release.
func (s *Redis) Sweep(ctx context.Context, now time.Time) ([]Reservation, error) {
	var out []Reservation
	for {
		v, err := scriptSweep.Run(ctx, s.c, []string{s.nodePeers(s.node), s.key("nodes")},
			s.p, ms(now), s.node, s.batch).StringSlice()
		if err != nil {
			return out, fmt.Errorf("reservation: sweep: %w", err)
		}
		for i := 0; i+2 < len(v); i += 3 {
			p, err := identity.Decode(v[i])
			if err != nil {
				continue // not a key relayd writes; the script dropped it
			}
			r, err := parseRecord(p, s.node, v[i+1], v[i+2])
			if err == nil {
				out = append(out, r)
			}
		}
		if len(v) < 3*s.batch {
			return out, nil
		}
	}
}

// Heartbeat is one beat of this node's liveness.
type Heartbeat struct {
	// Rejoined: the node was not alive before this beat (first beat, or
	// its heartbeat lapsed), so other nodes may have reaped its entries
	// and it must re-register them (Sync).
	Rejoined bool
	// Nodes is the number of live nodes, this one included.
	Nodes int
	// Reaped counts the dead nodes' entries this beat removed.
	Reaped int
}

// Heartbeat marks this node alive for ttl, publishes meshAddr (may be
// empty) for MeshAddr, and removes a batch of dead nodes' entries.
func (s *Redis) Heartbeat(ctx context.Context, meshAddr string, ttl time.Duration) (Heartbeat, error) {
	v, err := scriptHeartbeat.Run(ctx, s.c, []string{s.key("nodes"), s.key("node", s.node)},
		s.p, ms(s.now()), s.node, ttl.Milliseconds(), meshAddr, s.batch).Int64Slice()
	if err != nil {
		return Heartbeat{}, fmt.Errorf("reservation: heartbeat: %w", err)
	}
	if len(v) != 3 {
		return Heartbeat{}, fmt.Errorf("reservation: heartbeat: unexpected reply %v", v)
	}
	return Heartbeat{Rejoined: v[0] == 0, Nodes: int(v[1]), Reaped: int(v[2])}, nil
}

// MeshAddr is the mesh address node published with its last heartbeat,
// or an error wrapping ErrNodeGone once that heartbeat has expired.
func (s *Redis) MeshAddr(ctx context.Context, node string) (string, error) {
	v, err := scriptMeshAddr.Run(ctx, s.c, []string{s.key("nodes"), s.key("node", node)}, s.p, ms(s.now()), node).Text()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("reservation: node %s: %w", node, ErrNodeGone)
	}
	if err != nil {
		return "", fmt.Errorf("reservation: node %s: %w", node, err)
	}
	return v, nil
}

// Leave removes every entry of this node (its reservations, its
// heartbeat), for a drain or a clean start.
func (s *Redis) Leave(ctx context.Context) error {
	keys := []string{s.nodePeers(s.node), s.key("nodes"), s.key("node", s.node)}
	for {
		left, err := scriptLeave.Run(ctx, s.c, keys, s.p, ms(s.now()), s.node, s.batch).Int64()
		if err != nil {
			return fmt.Errorf("reservation: leave: %w", err)
		}
		if left == 0 {
			return nil
		}
	}
}

// Sync makes this node's entries equal to live(): each is written
// (without quota checks: they were admitted once; and never over a live
// slot another node took meanwhile, as a peer that moved to another node
// while this one was cut off) and every other entry of the node is
// dropped. It runs after Redis comes back or the node rejoins,
// so nothing is lost and, since a slot is keyed by peer, nothing counts
// twice. live is read after the node's entries are listed, so a
// reservation written meanwhile is either listed and kept or not listed.
func (s *Redis) Sync(ctx context.Context, live func() []Reservation) error {
	recorded, err := s.c.ZRange(ctx, s.nodePeers(s.node), 0, -1).Result()
	if err != nil {
		return fmt.Errorf("reservation: sync: %w", err)
	}
	rs := live()
	keep := make(map[string]bool, len(rs))
	for i := range rs {
		keep[rs[i].Peer.String()] = true
		rs[i].Node = s.node
	}
	if err := s.putAll(ctx, rs); err != nil {
		return fmt.Errorf("reservation: sync: %w", err)
	}
	var stale []string
	for _, p := range recorded {
		if !keep[p] {
			stale = append(stale, p)
		}
	}
	if err := s.deleteAll(ctx, stale); err != nil {
		return fmt.Errorf("reservation: sync: %w", err)
	}
	return nil
}

// deleteAll drops this node's entries for peers, pipelined.
func (s *Redis) deleteAll(ctx context.Context, peers []string) error {
	if len(peers) == 0 {
		return nil
	}
	if err := scriptDelete.Load(ctx, s.c).Err(); err != nil {
		return err
	}
	for len(peers) > 0 {
		n := min(len(peers), syncBatch)
		pipe := s.c.Pipeline()
		for _, p := range peers[:n] {
			keys := []string{s.key("res", p), s.key("all"), s.nodePeers(s.node)}
			scriptDelete.EvalSha(ctx, pipe, keys, s.p, ms(s.now()), p, s.node)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		peers = peers[n:]
	}
	return nil
}

// Count is the number of live reservations in the fleet (entries of a
// dead node count until a heartbeat or reserve script reaps them).
func (s *Redis) Count(ctx context.Context) (int, error) {
	n, err := s.c.ZCount(ctx, s.key("all"), "("+strconv.FormatInt(ms(s.now()), 10), "+inf").Result()
	if err != nil {
		return 0, fmt.Errorf("reservation: count: %w", err)
	}
	return int(n), nil
}
