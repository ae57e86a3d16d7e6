// Package host owns libp2p connections: it accepts raw transport connections,
// upgrades them (multistream-select → Noise → yamux), keeps the set of live
// connections per peer, negotiates a protocol on every stream and hands the
// stream to the handler registered for it. It also answers identify
// (/ipfs/id/1.0.0, /ipfs/id/push/1.0.0) and ping (/ipfs/ping/1.0.0).
//
// Nothing here knows about relaying: the circuit package registers its
// handlers and opens stop streams through NewStream, which only ever uses a
// connection that already exists (a public relay never dials the target).
//
// Defaults (Config):
//   - HandshakeTimeout 10 s: multistream + Noise + yamux must finish in it.
//   - StreamNegotiationTimeout 10 s: multistream on a new stream.
//   - MaxStreamsPerConn 64 inbound streams in flight per connection; more are
//     closed at once.
//   - MaxHandshakes 256 upgrades in flight; more raw connections are closed
//     at once, so a flood of half-open connections cannot pin memory.
//
// yamux (hashicorp/yamux v0.1.2) is configured for the relay's cost profile:
// keep-alive off (clients ping us, and TCP keep-alive finds dead peers, so we
// save a goroutine and a timer per connection), accept backlog 64, 256 KiB
// stream windows (the spec's initial window; it cannot go lower), write
// timeout 10 s, stream close timeout 10 s. That library has no public stream
// reset, so Reset half-closes and the close timeout turns it into a RST if the
// peer does not close its side.
package host
