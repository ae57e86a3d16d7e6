// Package relay assembles one relay node: the libp2p host with its
// listeners, the circuit service, the reservation store and the limiter,
// wired together with one lifecycle (New binds, Serve runs, Drain winds
// down, Close tears down and waits). cmd/relayd maps its flags onto
// Config; tests build in-process relays on 127.0.0.1:0 with it.
//
// Transports: a node listens on any mix of TCP, QUIC v1, WebSocket and
// WebSocket over TLS (Config.TLSConfig). All share one host, so a
// reservation made over one transport is reachable from every other, and
// reservations list every transport's address.
//
// Metrics: with Config.Metrics set, New registers the node's collectors
// (metrics.NewRelay) there and hands them to the host and the circuit
// service as their tracers; the reservation gauge reads the limiter.
//
// Limits: Config.Limits (limiter: ACL classes, reservation and circuit
// quotas, request rates, circuit caps), Config.Conns (host: inbound
// connections in total and per IP), MaxHandshakes and ProxyProtocol (real
// client addresses behind trusted load balancers). With Metrics set the
// limiter's class-labelled collectors (limiter.NewMetrics) register too.
// Reload swaps Limits and Conns at run time (cmd/relayd calls it on
// SIGHUP): new requests and connections see the new values at once, what
// was granted stays granted, and an invalid config changes nothing.
//
// Drain (graceful shutdown): the listeners close, the circuit service
// answers new RESERVE with RESERVATION_REFUSED and new CONNECT with
// RESOURCE_LIMIT_EXCEEDED (reason "draining"; both say "not now" where
// PERMISSION_DENIED would say "never", which is the ACL's answer), a fleet
// node removes its entries from Redis (fleet.Node.Leave), Ready turns
// false, and Drain waits for open circuits to end by themselves or for its
// context. Ready backs the admin /readyz.
//
// Fleet: with Config.Fleet the node joins a fleet (package fleet): the
// circuit service uses the fleet's Store (Redis, with a local copy of this
// node's reservations) and Quota (reservation quotas across the fleet),
// Serve runs the heartbeats, Ready is also false while Redis is down
// under the refuse policy, Status gives /readyz the Redis state, and
// Fleet exposes the membership (MeshAddr) to the mesh.
//
// Fleet: nodes that share a reservation store and a mesh (Config.Mesh,
// Config.NodeID; package mesh) forward a CONNECT for a peer another node
// holds to that node. Without Mesh.Listen a node has no mesh; its mesh
// collectors still register, at zero.
//
// Logs: components log through a handler that rate-limits the refusal
// messages a flood can drive (hotLogMessages) to a burst of 10, then one a
// second, per message and reason; the next line let through reports how
// many were suppressed.
package relay
