package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/reservation"
)

// Policy is what a node does with new reservations while Redis cannot be
// reached.
type Policy string

// Policies.
const (
	// PolicyLocal admits new reservations under this node's own quotas
	// and records them locally; they are registered in Redis when it
	// returns. The default: a relay that stops taking reservations
	// whenever one dependency hiccups fails at its one job, while the
	// worst case of "local" is bounded (each node still holds its own
	// per-IP, per-subnet and total quotas, so N nodes admit at most N
	// times the fleet quota, and only while Redis is away).
	PolicyLocal Policy = "local"
	// PolicyRefuse refuses new reservations (RESERVATION_REFUSED, reason
	// fleet_unavailable) and reports the node not ready, for operators
	// who want the fleet quotas exact at all times.
	PolicyRefuse Policy = "refuse"
)

// Config configures a Node. Zero values mean the defaults written on each
// field.
type Config struct {
	// URL locates Redis: redis://[user:password@]host:port[/db],
	// rediss://... for TLS, or a Cluster URL naming several nodes with
	// addr= parameters (redis://host1:port?addr=host2:port&addr=host3:port).
	// Required unless Client is set.
	URL string
	// SentinelMaster is the master name when URL names Redis Sentinels
	// (one host, or several with addr=); the URL's password is the
	// master's. Default: empty, no Sentinel.
	SentinelMaster string
	// Client is used instead of a client built from URL (tests). Close
	// does not close it.
	Client redis.UniversalClient
	// Prefix starts every Redis key; fleets sharing one Redis need
	// different prefixes. Default "relayd:".
	Prefix string
	// NodeID names this node in the fleet; unique per node, stable across
	// restarts (a restart clears what the previous process left). Default:
	// the hostname (the pod name on Kubernetes).
	NodeID string
	// MeshAddr is the address other nodes reach this node's mesh at,
	// published with every heartbeat (MeshAddr). Default: empty.
	MeshAddr string
	// HeartbeatTTL is how long a heartbeat keeps the node alive; it beats
	// every third of it. A node silent for longer holds nothing: its
	// reservations read absent and free their quota slots. Default 10 s.
	HeartbeatTTL time.Duration
	// OpTimeout bounds each Redis operation on the admission path (and
	// the client's dial, read and write timeouts), so a Redis in trouble
	// delays a RESERVE or CONNECT by at most this much, once: the node
	// then stops asking until a heartbeat succeeds. Default 500 ms.
	OpTimeout time.Duration
	// Unavailable is the policy while Redis cannot be reached. Default
	// PolicyLocal.
	Unavailable Policy
	// ReservationTTL is a reservation's lifetime, for the expiry the
	// quota script records. Default 1 h.
	ReservationTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives the node's logs. Default: discard.
	Logger *slog.Logger
	// Metrics receives the relayd_redis_* and relayd_fleet_* collectors.
	// Default nil: none.
	Metrics prometheus.Registerer
}

// Node is the node ID the fleet will use: NodeID, or the hostname (the
// pod name on Kubernetes) when NodeID is empty.
func (c Config) Node() (string, error) {
	if c.NodeID != "" {
		return c.NodeID, nil
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "", fmt.Errorf("fleet: no node ID and no hostname: %v", err)
	}
	return h, nil
}

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" && c.Client == nil {
		return c, errors.New("fleet: no Redis URL")
	}
	if c.Prefix == "" {
		c.Prefix = reservation.DefaultPrefix
	}
	id, err := c.Node()
	if err != nil {
		return c, err
	}
	c.NodeID = id
	if c.HeartbeatTTL <= 0 {
		c.HeartbeatTTL = 10 * time.Second
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 500 * time.Millisecond
	}
	switch c.Unavailable {
	case "":
		c.Unavailable = PolicyLocal
	case PolicyLocal, PolicyRefuse:
	default:
		return c, fmt.Errorf("fleet: unknown policy %q (want local or refuse)", c.Unavailable)
	}
	if c.ReservationTTL <= 0 {
		c.ReservationTTL = time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// NewClient builds the client rawURL names: a Cluster client when it has
// addr= parameters, a Sentinel (failover) client when master is set, else
// a single-server client; timeouts are opTimeout (dial: twice that) and
// failed commands are not retried, so a caller waits at most about
// opTimeout.
func NewClient(rawURL, master string, opTimeout time.Duration) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid Redis URL: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("invalid Redis URL %q: scheme must be redis or rediss", redact(u))
	}
	if u.Query().Has("addr") {
		o, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("invalid Redis URL %q: %w", redact(u), err)
		}
		if master != "" {
			return redis.NewFailoverClient(&redis.FailoverOptions{
				MasterName: master, SentinelAddrs: o.Addrs, Username: o.Username, Password: o.Password,
				TLSConfig: o.TLSConfig, DialTimeout: 2 * opTimeout, ReadTimeout: opTimeout, WriteTimeout: opTimeout,
				PoolTimeout: opTimeout, MaxRetries: -1, ContextTimeoutEnabled: true,
			}), nil
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = 2*opTimeout, opTimeout, opTimeout, opTimeout
		o.MaxRetries, o.ContextTimeoutEnabled = -1, true
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid Redis URL %q: %w", redact(u), err)
	}
	if master != "" {
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: master, SentinelAddrs: []string{o.Addr}, Username: o.Username, Password: o.Password, DB: o.DB,
			TLSConfig: o.TLSConfig, DialTimeout: 2 * opTimeout, ReadTimeout: opTimeout, WriteTimeout: opTimeout,
			PoolTimeout: opTimeout, MaxRetries: -1, ContextTimeoutEnabled: true,
		}), nil
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = 2*opTimeout, opTimeout, opTimeout, opTimeout
	o.MaxRetries, o.ContextTimeoutEnabled = -1, true
	return redis.NewClient(o), nil
}

// CheckURL reports whether rawURL is one NewClient accepts, without
// connecting.
func CheckURL(rawURL string) error {
	c, err := NewClient(rawURL, "", time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// redact drops the password from u for error messages.
func redact(u *url.URL) string {
	return u.Redacted()
}
