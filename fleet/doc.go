// Package fleet owns a relay node's membership in a fleet of relayd nodes
// that share reservation state through Redis: the node's identity and
// heartbeat, the Redis client and its health, and the Store and Quota
// that replace the one-node reservation.Memory and limiter.Limiter in the
// circuit service.
//
// Identity and liveness: a node is named by Config.NodeID (default the
// hostname, the pod name on Kubernetes). It beats every HeartbeatTTL/3
// (TTL default 10 s); a node silent for a TTL holds nothing: its
// reservations read absent and stop counting against quotas, and every
// other node's heartbeat reaps its entries. Each beat publishes the node's
// MeshAddr, which other nodes read with (*Node).MeshAddr (ErrNodeGone once
// the beat has lapsed). A start clears what a previous process of the same
// node ID left; Leave (drain) and Close remove the node's entries at once.
//
// Quotas: Quota checks the reservation quotas (total, per IP, per subnet;
// one slot per peer) against the whole fleet in one Redis script, so three
// nodes with max_reservations_per_ip 8 admit 8 reservations from one IP,
// not 24, and max_reservations caps the fleet, not each node. Request
// rates, the ACL and circuit counts stay per node (see Quota).
//
// Redis faults: Redis is never on the byte path, and established
// reservations never depend on it: Store keeps a local copy of this node's
// reservations that lookups fall back to. Every operation is bounded by
// OpTimeout (500 ms) and not retried; the first failure marks Redis down,
// and from then on requests do not wait on Redis at all but follow the
// Unavailable policy (local, the default: admit under this node's own
// quotas; or refuse) until a heartbeat succeeds. Then the node
// re-registers its live reservations (reservation.Redis.Sync): nothing is
// lost, and since a slot is keyed by peer, nothing counts twice. The same
// happens when a heartbeat finds the node had lapsed. State (for /readyz)
// says since when Redis is up or down; Ready is false only while Redis is
// down under PolicyRefuse.
//
// Metrics (Config.Metrics):
//
//	relayd_redis_up                                   gauge: 1 while Redis answers and the node is registered
//	relayd_redis_operation_duration_seconds{op}       histogram of Redis operations
//	relayd_redis_errors_total{op}                     failed Redis operations
//	relayd_redis_reregistrations_total                re-registrations of this node's reservations
//	relayd_fleet_nodes                                live nodes at the last heartbeat
//	relayd_fleet_reservations                         live reservations in the fleet at the last heartbeat
//
// op is one of reserve, put, get, delete, sweep, heartbeat, count, sync,
// leave, mesh_addr.
package fleet
