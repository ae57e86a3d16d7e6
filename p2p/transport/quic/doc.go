// Package quic is the QUIC v1 transport (/ip4|/ip6/<ip>/udp/<port>/quic-v1,
// RFC 9000) with libp2p TLS (p2p/tls): ALPN "libp2p", both sides present a
// certificate carrying their host key, and the peer ID comes from it.
// Connections come out authenticated and multiplexed; each QUIC stream is
// one libp2p stream (the host runs multistream-select on it).
//
// Defaults and why:
//   - Listeners send no keep-alives (KeepAlivePeriod 0) and idle out after
//     IdleTimeout, default 60 s. Clients keep their reservation alive
//     (go-libp2p pings every 15 s with a 30 s idle timeout; QUIC uses the
//     smaller of both sides' timeouts), so the relay needs no timer traffic
//     of its own, just as yamux keep-alive is off on TCP. The idle timeout is
//     QUIC's only dead-peer detector (there is no TCP keep-alive), so it
//     stays at a minute rather than many.
//   - Dialed connections (tests, probes) keep alive every 15 s, as a
//     client should.
//   - The handshake (HandshakeIdleTimeout) gets half the listener's
//     HandshakeTimeout: quic-go aborts a handshake that is idle that long or
//     runs twice that long, so the whole handshake stays within it.
//   - At most MaxHandshakes handshakes per listener; more Initial packets
//     are answered with CONNECTION_REFUSED (counted as handshake_limit).
//   - 256 incoming bidirectional streams (go-libp2p's value; the host
//     resets beyond its own per-connection cap), no unidirectional streams,
//     no datagrams, QUIC v1 only.
//   - Stream receive windows start at 256 KiB and may grow to 1 MiB, the
//     connection's to 4 MiB: a spliced circuit whose far side is slow
//     buffers at most a window, so the windows bound relay memory.
//   - The stateless reset key is derived from the host key, so after a
//     restart clients of the old process learn at once that it is gone.
//
// Memory: quic-go costs about 60 KiB of RSS per idle connection whatever
// the Config says (shared/MEMORY-FLOOR.md), twice a TCP reservation. Of
// that, 47–48 KiB is listener heap (TestIdleConnHeap, RELAYD_MEASURE=1):
// quic-go's connection state and the TLS state kept after the handshake.
// Smaller receive windows and 32 incoming streams measured the same: the
// windows are credit, not buffers, and stream state is made on demand.
//
// quic-go prints one line to the standard logger if it cannot raise the UDP
// socket buffers (see its UDP-Buffer-Sizes wiki page); set
// QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true to silence it.
package quic
