// Package mesh links the nodes of a relayd fleet, so that a CONNECT which
// enters one node reaches a peer whose connection another node holds
// (circuit/MESH.md has the wire format).
//
// Links: TCP between nodes, one per node pair. A node accepts on
// Config.Listen and dials the nodes it forwards to at the address its
// Directory gives (the fleet's Redis directory publishes --mesh-advertise).
// Both ends prove they hold the cluster secret (Config.Secret, at least 32
// bytes) with Noise_NNpsk0_25519_ChaChaPoly_SHA256 keyed by SHA-256 of the
// secret: a dialer without it fails on its first handshake message, before
// it can send a frame, and is counted (reason "auth"). The handshake
// payloads name the dialing node and the node it wants, so a stale address
// never links the wrong pair. Over Noise, hashicorp/yamux multiplexes the
// link's circuits; either end opens streams. If both nodes dial at once,
// both open new circuits on the link dialed by the node with the smaller
// ID, and the other link closes once its circuits ended. The dialing end
// redials a dropped link with backoff (100 ms doubling to 10 s) until
// the node closes or the directory no longer knows the other node; drops
// are counted. A first dial that fails is not retried: forwards to that
// node fail at once for 1 s, then the next one dials again. Without a secret a node has no mesh: it neither listens nor
// forwards.
//
// Circuits: Node implements circuit.Forwarder. The entry node opens a
// stream, sends Connect (target, source, the Limit it granted, itself) and
// waits for Status; the holding node's circuit service checks it holds the
// target, runs the stop exchange and answers, then splices. The entry node
// enforces the Limit; the holding node does not limit again. After Status,
// bytes travel as records (Data, Fin, Reset, Stop) because yamux cannot
// send a stream reset: a reset on either outer leg arrives as a reset on
// the other, a graceful half-close as EOF. When a link fails every stream
// on it fails with ErrLinkDown, and both nodes reset the circuit's outer
// legs.
//
// Defaults (Config): handshake and Connect timeout 10 s, dial timeout 5 s,
// at most 64 inbound handshakes in flight; yamux keepalive every 10 s,
// 1 MiB stream window, and a stream whose Reset record cannot be sent
// (full window) is RST by yamux after 1 min.
//
// Metrics (NewMetrics): relayd_mesh_links_up, relayd_mesh_link_drops_total,
// relayd_mesh_handshake_failures_total{reason},
// relayd_mesh_forwarded_circuits_total{direction,result},
// relayd_mesh_forwarded_circuits_active{direction},
// relayd_mesh_forwarded_circuits_closed_total{reason} and
// relayd_mesh_forwarded_bytes_total{direction}. The entry node counts a
// forwarded circuit in relayd_circuits_* like any other; the holding node
// counts it only here, so a fleet counts each circuit once.
package mesh
