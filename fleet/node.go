package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/reservation"
)

// ErrNodeGone means a node's heartbeat has expired: it holds nothing and
// is no forwarding target.
var ErrNodeGone = reservation.ErrNodeGone

// Node is this relay's membership in a fleet: its identity and heartbeat,
// the Redis client and its health, and the shared Store and Quota that
// the circuit service uses instead of the one-node ones.
type Node struct {
	cfg     Config
	client  redis.UniversalClient
	owned   bool // client built from URL: Close closes it
	redis   *reservation.Redis
	mirror  *reservation.Memory // this node's reservations, kept locally
	lim     *limiter.Limiter
	log     *slog.Logger
	metrics *metrics

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu        sync.Mutex
	up        bool      // Redis answered the last operation
	since     time.Time // when up last changed
	lastErr   error
	justWrote map[identity.PeerID]reservation.Reservation // by Quota.Reserve, for the Put that follows

	leaving atomic.Bool // Leave called: no more heartbeats
	leaveMu sync.Mutex  // serializes Leave with beat
	left    bool        // Leave succeeded

	nodes     atomic.Int64 // live nodes at the last heartbeat
	closeOnce sync.Once
}

// New joins the fleet: it builds the Redis client, clears what a previous
// process with this node ID left behind and sends the first heartbeat.
// Redis being unreachable is not an error: the node starts under its
// Unavailable policy and joins when Redis answers. lim is the node's own
// policy; Quota wraps it.
func New(cfg Config, lim *limiter.Limiter) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	client, owned := cfg.Client, false
	if client == nil {
		if client, err = NewClient(cfg.URL, cfg.SentinelMaster, cfg.OpTimeout); err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
		owned = true
	}
	rs, err := reservation.NewRedis(reservation.RedisConfig{Client: client, Prefix: cfg.Prefix, Node: cfg.NodeID, Now: cfg.Now})
	if err != nil {
		if owned {
			client.Close()
		}
		return nil, fmt.Errorf("fleet: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, client: client, owned: owned, redis: rs, mirror: reservation.NewMemory(cfg.Now), lim: lim,
		log: cfg.Logger, ctx: ctx, cancel: cancel, since: cfg.Now(),
		justWrote: make(map[identity.PeerID]reservation.Reservation),
	}
	n.metrics = newMetrics(cfg.Metrics, n)
	n.join()
	return n, nil
}

// ID is this node's ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// Policy is the node's Unavailable policy.
func (n *Node) Policy() Policy { return n.cfg.Unavailable }

// join clears this node ID's leftovers and beats once.
func (n *Node) join() {
	// A previous process may have left many entries: more time than one
	// admission operation gets.
	ctx, cancel := context.WithTimeout(n.ctx, max(n.cfg.OpTimeout, 5*time.Second))
	defer cancel()
	start := time.Now()
	err := n.redis.Leave(ctx)
	n.metrics.observe("leave", time.Since(start), err)
	if err == nil {
		n.beat()
	}
	if !n.Up() {
		n.log.Warn("Redis unavailable at start; serving under the unavailable policy", "policy", n.cfg.Unavailable, "err", err)
	}
}

// Serve sends heartbeats until ctx is done or Close. A heartbeat that
// finds the node had lapsed, or Redis back after a failure, re-registers
// the node's live reservations.
func (n *Node) Serve(ctx context.Context) error {
	t := time.NewTicker(n.cfg.HeartbeatTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.ctx.Done():
			return nil
		case <-t.C:
			n.beat()
		}
	}
}

// beat is one heartbeat, with the re-registration it may call for. It
// runs under leaveMu, so Leave waits for a beat in flight: a heartbeat
// reaching Redis after the leave script would find the node gone, take
// that for a rejoin and re-register the reservations of a node that is
// draining.
func (n *Node) beat() {
	n.leaveMu.Lock()
	defer n.leaveMu.Unlock()
	if n.leaving.Load() {
		return
	}
	wasUp := n.Up()
	var hb reservation.Heartbeat
	err := n.op(n.ctx, "heartbeat", func(ctx context.Context) (err error) {
		hb, err = n.redis.Heartbeat(ctx, n.cfg.MeshAddr, n.cfg.HeartbeatTTL)
		return err
	})
	if err != nil {
		return
	}
	n.nodes.Store(int64(hb.Nodes))
	if hb.Rejoined || !wasUp {
		n.resync(hb.Rejoined)
	}
	var count int
	if n.op(n.ctx, "count", func(ctx context.Context) (err error) { count, err = n.redis.Count(ctx); return err }) == nil {
		n.metrics.setFleetReservations(count)
	}
}

// resync registers this node's live reservations in Redis. Until it is
// done the node counts as down, so requests do not see a half-written
// fleet state as the truth.
func (n *Node) resync(rejoined bool) {
	n.setUp(false, nil)
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.HeartbeatTTL/2)
	defer cancel()
	// While down, reservations come and go in the local copy only; a
	// pass that raced with one is repeated, so Redis ends equal to it.
	for range 3 {
		var synced []reservation.Reservation
		start := time.Now()
		err := n.redis.Sync(ctx, func() []reservation.Reservation { synced = n.mirror.All(); return synced })
		n.metrics.observe("sync", time.Since(start), err)
		if err != nil {
			n.setUp(false, err)
			n.log.Warn("re-registering reservations in Redis failed", "err", err)
			return
		}
		if samePeers(synced, n.mirror.All()) {
			break
		}
	}
	n.metrics.resynced()
	n.setUp(true, nil)
	n.log.Info("registered in the fleet", "node", n.cfg.NodeID, "reservations", len(n.mirror.All()), "rejoined", rejoined)
}

func samePeers(a, b []reservation.Reservation) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[identity.PeerID]time.Time, len(a))
	for _, r := range a {
		in[r.Peer] = r.Expire
	}
	for _, r := range b {
		if e, ok := in[r.Peer]; !ok || !e.Equal(r.Expire) {
			return false
		}
	}
	return true
}

// wrote notes that the reserve script wrote r, so the circuit service's
// Put that follows (under its per-node reserve lock) need not write it
// again: one script per RESERVE instead of two.
func (n *Node) wrote(r reservation.Reservation) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.justWrote[r.Peer] = r
}

// written takes the note wrote left for p.
func (n *Node) written(p identity.PeerID) (reservation.Reservation, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.justWrote[p]
	delete(n.justWrote, p)
	return r, ok
}

// op runs one Redis operation under OpTimeout, measures it, and marks
// Redis down when it fails for a reason other than the operation's own
// outcome (not found, a quota refusal) or the caller giving up.
func (n *Node) op(ctx context.Context, name string, f func(ctx context.Context) error) error {
	octx, cancel := context.WithTimeout(ctx, n.cfg.OpTimeout)
	defer cancel()
	start := time.Now()
	err := f(octx)
	if outcome(err) {
		n.metrics.observe(name, time.Since(start), nil)
		return err
	}
	n.metrics.observe(name, time.Since(start), err)
	if ctx.Err() == nil {
		n.setUp(false, err)
	}
	return err
}

// outcome: err is an answer from Redis, not a failure to get one.
func outcome(err error) bool {
	return err == nil || errors.Is(err, reservation.ErrNotFound) || errors.Is(err, reservation.ErrNodeGone) ||
		errors.Is(err, reservation.ErrTotalQuota) || errors.Is(err, reservation.ErrIPQuota) ||
		errors.Is(err, reservation.ErrSubnetQuota)
}

// setUp records Redis's state; err says why it is down.
func (n *Node) setUp(up bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.lastErr = err
	}
	if n.up == up {
		return
	}
	n.up, n.since = up, n.cfg.Now()
	n.metrics.setUp(up)
	if !up && err != nil {
		n.log.Warn("Redis unavailable", "policy", n.cfg.Unavailable, "err", err)
	}
}

// Up reports whether Redis answers and the node is registered: new
// requests go to Redis only then.
func (n *Node) Up() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

// State describes Redis's state for /readyz: "redis: ok since T" or
// "redis: unavailable since T: <error>".
func (n *Node) State() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	since := n.since.UTC().Format(time.RFC3339)
	if n.up {
		return fmt.Sprintf("redis: ok since %s, node %s, %d nodes", since, n.cfg.NodeID, n.nodes.Load())
	}
	msg := fmt.Sprintf("redis: unavailable since %s (policy %s)", since, n.cfg.Unavailable)
	if n.lastErr != nil {
		msg += ": " + n.lastErr.Error()
	}
	return msg
}

// Ready is false only while Redis is down under PolicyRefuse: such a node
// cannot admit anything new.
func (n *Node) Ready() bool {
	return n.cfg.Unavailable != PolicyRefuse || n.Up()
}

// Nodes is the number of live nodes the last heartbeat saw.
func (n *Node) Nodes() int { return int(n.nodes.Load()) }

// MeshAddr is the mesh address the live node nodeID published with its
// heartbeat (empty if it has none), or an error wrapping ErrNodeGone once
// its heartbeat has expired.
func (n *Node) MeshAddr(ctx context.Context, nodeID string) (string, error) {
	var addr string
	err := n.op(ctx, "mesh_addr", func(ctx context.Context) (err error) {
		addr, err = n.redis.MeshAddr(ctx, nodeID)
		return err
	})
	return addr, err
}

// Leave removes this node's entries from Redis at once (drain or
// shutdown) and stops its heartbeats; its reservations stay readable on
// this node for circuits still being set up. It runs even when ctx is
// already done (a drain with no time left), bounded by its own timeout;
// after a failure, Close tries again.
func (n *Node) Leave(ctx context.Context) error {
	n.leaving.Store(true)
	n.leaveMu.Lock()
	defer n.leaveMu.Unlock()
	if n.left {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(n.cfg.OpTimeout, 5*time.Second))
	defer cancel()
	start := time.Now()
	err := n.redis.Leave(ctx)
	n.metrics.observe("leave", time.Since(start), err)
	if err != nil {
		n.log.Warn("removing this node's entries from Redis failed; they lapse with its heartbeat", "err", err)
		return fmt.Errorf("fleet: leave: %w", err)
	}
	n.left = true
	n.log.Info("left the fleet", "node", n.cfg.NodeID)
	return nil
}

// Close leaves the fleet if Drain did not, and closes the client it built.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.Leave(context.Background())
		n.cancel()
		if n.owned {
			n.client.Close()
		}
	})
	return nil
}
