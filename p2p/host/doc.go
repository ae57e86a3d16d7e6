// Package host owns libp2p connections: it accepts connections from its
// transports (p2p/transport: TCP, QUIC, WebSocket), upgrades the raw ones
// (multistream-select → Noise → yamux; QUIC arrives authenticated and
// multiplexed), keeps the set of live connections per peer, negotiates a
// protocol on every stream and hands the stream to the handler registered
// for it. It also answers identify (/ipfs/id/1.0.0, /ipfs/id/push/1.0.0)
// and ping (/ipfs/ping/1.0.0). Which transport serves an address is
// decided by the transports themselves (Transport.Handles); the host has
// no transport-specific code.
//
// Nothing here knows about relaying: the circuit package registers its
// handlers and opens stop streams through NewStream, which only ever uses a
// connection that already exists (a public relay never dials the target).
//
// For clients (relayd probe, package dcutr) the host also: upgrades any
// byte pipe, such as a circuit's hop or stop stream, into a connection
// whose Relayed() is true (UpgradeRelayed); dials and answers the upgrade
// as responder (DialAsResponder: DCUtR's TCP simultaneous open); has a
// transport punch UDP towards an address (Punch: DCUtR over QUIC); asks a
// peer's identify (Identify: our observed address); and waits for a
// connection by predicate (WaitConn). None of this is relay policy, and the
// relay uses none of it. Port reuse lives in the transports
// (tcp.NewReusing, quic Config.DialFromListener).
//
// Defaults (Config):
//   - HandshakeTimeout 10 s: multistream + Noise + yamux must finish in it.
//   - StreamNegotiationTimeout 10 s: multistream on a new stream.
//   - MaxStreamsPerConn 64 inbound streams in flight per connection; more are
//     closed at once.
//   - MaxHandshakes 256 upgrades in flight per listener; more connections
//     are refused at once, so a flood of half-open connections cannot pin
//     memory, and a flood on one transport cannot starve another.
//     HandshakeTimeout and MaxHandshakes are handed to every listener
//     (QUIC applies them inside its handshake, WebSocket to the HTTP
//     upgrade as well).
//   - ConnLimits: MaxConns 2048 inbound connections (handshaking or
//     established) on all listeners; ConnRatePerIP 4 new connections a
//     second per IP (IPv6: /64), burst 16. Both are checked as a connection
//     is accepted, before any handshake work, and ReloadConnLimits changes
//     them at run time. Refusals are counted by reason: conn_limit,
//     ip_rate, handshake_limit, proxy_untrusted, proxy_header.
//   - ProxyProtocol off. With Trusted sources set, a TCP connection from
//     one may start with a PROXY v1/v2 header (p2p/transport/proxyproto),
//     read under the handshake deadline in the connection's goroutine; the
//     client it names is the connection's remote address from then on (per-
//     IP limits, identify's observedAddr, the relay's quotas). A header
//     from any other source closes the connection.
//
// yamux (hashicorp/yamux v0.1.2) is configured for the relay's cost profile:
// keep-alive off (clients ping us, and TCP keep-alive finds dead peers, so we
// save a goroutine and a timer per connection), accept backlog 16, 256 KiB
// stream windows (the spec's initial window; it cannot go lower), write
// timeout 10 s, stream close timeout 10 s. That library has no public stream
// reset, so Reset half-closes and the close timeout turns it into a RST if the
// peer does not close its side.
package host
