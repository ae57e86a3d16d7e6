// Package metrics owns relayd's Prometheus metrics and its admin HTTP
// endpoint.
//
// One collector struct per subsystem (Connections, Reservations, Circuits),
// each registered with MustRegister on the prometheus.Registerer its
// constructor is given: there are no package-level collectors and nothing
// touches the default registry, so tests build as many relays as they like,
// each on its own registry. Connections implements host.Tracer; Relay
// bundles the three and hands out a circuit.Tracer. RegisterRuntime adds the
// process and Go runtime collectors and relayd_build_info.
//
// Names follow relayd_<subsystem>_<name>_<unit>. Every label combination
// known when the collector is built exists at zero from the start (so rate()
// and absent-series alerts work before the first event): refusal reasons
// are the circuit service's own plus limiter.Reasons(); a reason a later
// release adds appears when first seen. Labels never carry peer IDs or IP
// addresses: their cardinality is unbounded. The limiter registers its own
// relayd_limiter_* collectors (see package limiter), a fleet node its
// relayd_redis_* and relayd_fleet_* ones (see package fleet), and the fleet
// mesh its relayd_mesh_* ones (see package mesh; every node registers them,
// at zero without a mesh).
//
//	relayd_build_info{version,commit,go_version}                 gauge, always 1
//	relayd_connections_active{transport}                          gauge
//	relayd_connections_accepted_total{transport}                  inbound upgrades completed
//	relayd_connections_refused_total{transport,reason}            raw connections dropped before the handshake
//	relayd_connections_handshake_duration_seconds{transport}      histogram of completed upgrades
//	relayd_connections_handshake_failures_total{transport,stage}  failed inbound upgrades
//	relayd_connections_parked                                     gauge: idle TCP connections, yamux session shut down
//	relayd_connections_parks_total                                sessions shut down for idleness (park_idle)
//	relayd_reservations_active                                    gauge: slots held by this node
//	relayd_reservations_requests_total{result}                    RESERVE answered: ok or the refusal reason
//	relayd_reservations_refreshes_total                           ok answers that renewed a held slot
//	relayd_reservations_expirations_total                         slots dropped at their expiry
//	relayd_reservations_disconnections_total                      slots dropped when the peer left
//	relayd_circuits_active                                        gauge: circuits splicing
//	relayd_circuits_requests_total{result}                        CONNECT answered: ok or the refusal reason
//	relayd_circuits_invalid_requests_total{reason}                hop streams that were neither RESERVE nor CONNECT
//	relayd_circuits_relayed_bytes_total{direction}                src_to_dst, dst_to_src
//	relayd_circuits_closed_total{reason}                          limit_duration, limit_data, src_closed, dst_closed, error, shutdown
//	relayd_circuits_duration_seconds                              histogram of every circuit's lifetime
//	relayd_circuits_peer_closed_duration_seconds                  histogram of circuits a peer ended (src_closed, dst_closed)
//
// The last histogram is the hole-punch proxy: peers that upgrade to a direct
// connection (DCUtR) close the relayed one within seconds, so its le="10"
// bucket over its count is the share of circuits handed over quickly.
//
// The admin handler (NewAdminHandler) serves /metrics, /healthz (the
// process answers), /readyz (200 while the relay serves and is not
// draining, else 503; AdminConfig.Status adds lines, such as a fleet
// node's Redis state) and, only when asked, /debug/pprof/. NewAdminServer
// wraps it in an http.Server with timeouts. It belongs on a loopback or
// private address, never on a relay port: pprof and metrics are for
// operators only.
package metrics
