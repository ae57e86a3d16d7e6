// Package transport holds the contract between the host and its transports:
// what a listener hands the host, what a dialer returns, and the streams a
// multiplexed connection carries. The transports themselves live in the
// sub-packages tcp, quic and ws.
//
// A transport yields one of two kinds of connection:
//   - RawConn, a byte stream the host still upgrades itself
//     (multistream-select → Noise → multistream-select → yamux): TCP and
//     WebSocket (/ws, /wss);
//   - SecureConn, a connection the transport already authenticated and
//     multiplexed: QUIC (libp2p TLS inside QUIC, native streams).
//
// The host, not the transport, negotiates a protocol on every stream, so
// every transport gets identical stream handling.
//
// Each listener gets a ListenConfig from the host: its own handshake
// deadline and its own cap on handshakes in flight, so a flood on one
// transport cannot starve another. Label names the transport in metrics and
// logs: "tcp", "quic", "ws" or "wss".
package transport
