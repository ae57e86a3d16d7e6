// Package limiter owns relay policy: who may reserve and relay (ACL
// classes), how many reservations and circuits are held (quotas), how
// fast requests may come (rates), and the caps each circuit carries.
//
// Quotas count *active* reservations and circuits, never requests: a
// refresh or a reconnect of a peer that already holds a slot never takes a
// second one, and a slot is freed when the peer's last connection closes
// or its reservation expires (the caller calls Release).
//
// Defaults (Config): reservations 1 per peer (structural: one slot per
// peer ID), 8 per IP, 32 per IPv4 /24 or IPv6 /56, 128 per node; circuits
// 16 per peer (as source or destination, as go-libp2p counts), 1024 per
// node, each capped at 2 min and 128 KiB per direction (the go-libp2p
// defaults, so Noise, identify and three rounds of DCUtR fit), unpaced.
// Request rates are token buckets (golang.org/x/time/rate): RESERVE 1/s
// burst 8 per IP and one per 10 s burst 4 per peer; CONNECT 10/s burst 32
// per IP and 4/s burst 16 per peer. "Per IP" means per address for IPv4
// and per /64 for IPv6: one host usually holds a whole /64. Each bucket
// map holds at most 16384 keys; idle keys are forgotten.
//
// Classes: DenyPeers/DenyCIDRs are refused everything (PERMISSION_DENIED,
// class "denied"). Otherwise a peer falls in the first Class whose peer IDs
// or CIDRs match it, else in "default" (the flat Config limits). A class
// overrides any of the default limits; Unrestricted() is the allow-list
// preset (no circuit caps, no per-IP/subnet/peer quotas, no rates; the
// node totals still hold). A circuit takes the caps of the class of the
// peer that asked for it; each end is held to its own class's per-peer
// circuit cap.
//
// Refusals are sentinel errors; Refusal maps each, in one table, to the
// status code a RESERVE or CONNECT is answered with and its reason label
// (acl_denied, rate, ip_quota, subnet_quota, total_quota, circuit_quota,
// total_circuit_quota, fleet_unavailable). Reload swaps the policy for new
// requests; what was granted stays granted. Time comes from Config.Now.
//
// Fleets (package fleet): the reservation quotas (total, per IP, per
// subnet) are then checked against counts shared in Redis. ReserveQuotas
// hands the fleet the caps of a peer's class, Hold records the slot the
// fleet granted without re-checking local counts, Refuse counts a fleet
// refusal. Request rates, the ACL and circuit counts stay per node.
//
// Metrics (NewMetrics): relayd_limiter_decisions_total{request,class,result},
// relayd_limiter_reservations_active{class}, relayd_limiter_circuits_active{class}.
// Labels carry class names, never peer IDs or addresses.
package limiter
