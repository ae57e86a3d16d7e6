// Command relayd is a dedicated libp2p Circuit Relay v2 server.
//
// Usage:
//
//	relayd [serve] [flags]    run the relay (the default command)
//	relayd keygen [-o FILE]   create an identity key file, print its peer ID
//	relayd probe ADDR         check a relay end to end: reserve, connect, echo,
//	                          hole punch (--holepunch)
//	relayd bench ADDR         load-test a running relay (reservations/s,
//	                          circuit setup latency, throughput)
//	relayd healthcheck        GET /healthz on the admin endpoint, exit 0 on
//	                          200 (a container health check without a shell)
//	relayd version            print version and commit
//	relayd help [command]     print usage
//
// This package owns the command line: it turns defaults, an optional YAML
// file (--config or RELAYD_CONFIG), RELAYD_* environment variables and flags
// into one validated Config (later sources win, flags last), builds the
// logger, and hands both to serve. It does no networking itself, except
// as a client in probe and bench: bench load-tests a running relay
// (--reservations 100 at --concurrency 8, --circuits 50 timed setups,
// --bytes 64MiB through one circuit, all within --timeout 5m) and closes
// every client it made before it returns.
//
// Every default is written once, in defaultConfig; `relayd --print-config`
// prints the effective configuration and docs/config.md lists every field.
//
// serve also runs the admin HTTP endpoint (admin_listen, default
// 127.0.0.1:9494: /metrics, /healthz, /readyz, opt-in /debug/pprof/) on one
// Prometheus registry holding the process, Go runtime, build-info and relay
// collectors (package metrics).
//
// Signals: the first SIGTERM or SIGINT drains the relay: listeners close,
// new reservations and circuits are refused, /readyz answers 503, and open
// circuits may run for drain_timeout (default 30s) before everything is
// closed; the exit code is 0 whether they ended or timed out. A second
// signal exits at once with code 1. SIGHUP loads the config again from the
// same file, environment and flags (flags still win) and applies its
// limits to new requests and connections at once: quotas, request and
// connection rates, circuit caps, deny and allow lists and named classes.
// Reservations, circuits and connections already granted keep what they
// have. An invalid config is logged as an error and the running one
// stays; keys that need a restart (listen addresses, identity, TLS, PROXY protocol
// sources, handshake settings, logging) are named in a warning.
//
// Limits (see docs/config.md): reservations per node, per IP and per /24
// (IPv6 /56); circuits per node and per peer, each capped in duration,
// data and (optionally) rate; RESERVE, CONNECT and new connections per IP
// and per peer as token buckets; deny and allow lists of peer IDs and
// CIDRs. Allow-listed peers form the "allowed" class: no circuit Limit, no
// per-IP/subnet/peer quotas, no request rates; the node totals still hold.
// Named classes (classes, --class) give listed peers or CIDRs their own
// overrides of these limits; a peer is in the first named class that
// matches it, else "allowed", else "default", and the deny lists win.
// Behind a load balancer, proxy_protocol_trusted makes all of these see
// the client's address.
//
// Fleet: with redis (a redis://, rediss:// or Cluster URL; Sentinels with
// redis_sentinel_master) the node joins a fleet as node_id (default the
// hostname): reservations and the reservation quotas are shared through
// Redis under redis_prefix, the node beats every third of heartbeat_ttl,
// a drain removes its entries at once, and redis_unavailable (local or
// refuse) decides new reservations while Redis is unreachable; /readyz
// reports the Redis state (package fleet).
//
// Exit codes: 0 success (also help and --print-config), 1 runtime failure
// or a drain cut short by a second signal, 2 bad usage or configuration.
// Errors are one line on stderr that name the flag, environment variable
// or YAML key at fault.
//
// The version printed by `relayd version` comes from the module build info
// (version, vcs.revision) and can be set at link time with
// -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
package main
