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
// handlers and opens stop streams through NewStreamPipelined, which, like
// NewStream, only ever uses a connection that already exists (a public
// relay never dials the target). NewStreamPipelined sends the protocol's
// first message with the multistream-select proposal, in one write, for a
// protocol the peer must speak: it saves a round trip per stream.
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
// timeout 10 s, stream close timeout 10 s (a graceful close the peer never
// answers).
//
// Goroutines: the host owns every goroutine it starts (handshakes,
// connection servers, stream acceptors and handlers, removals) and Close
// joins them all. Each is started through goTracked, which adds to the
// WaitGroup under the host's lock only while the host is open, so no Add
// races Close's Wait; once Close has begun, a new connection is closed and
// a new stream reset instead. Handshakes, stream acceptors and stream
// handlers go through goTask, which hands them to an idle worker whose
// stack has already grown (workers.go).
//
// An idle yamux connection costs yamux's two goroutines (receive and send
// loops, 4 KiB of stack each) and none of the host's: the link under the
// session (frameCoalescer) reports each SYN it hands to yamux, which
// starts an acceptor goroutine if none runs; the acceptor ends once every
// stream announced has been accepted, serving the last one itself. The
// link also reports the connection's end, which removes it. A QUIC
// connection, whose muxer reports nothing, has a goroutine parked in
// AcceptStream (Conn.serve) for its whole life.
//
// Parking (park.go). A TCP connection with no stream and no frame either
// way for ParkIdle (default 2 s) goes further: its yamux session is shut
// down, silently, and one goroutine waits on the Noise connection,
// answering the peer's yamux pings. The next frame from the peer, or a
// stream we open, starts a new hashicorp/yamux session on the same
// connection with the bytes read so far; the link shifts our stream IDs
// by the last session's highest, so the peer sees one session whose IDs
// only grow. Parking is asked for by a sweeper goroutine (every ParkIdle/2)
// through a read deadline in the past, and decided by the session's
// receive loop, at a frame boundary, under the connection's lock, only if
// nothing is pending: no stream, no OpenStream under way, no host frame
// queued, no ping of ours unanswered, no write in progress, no GoAway
// from the peer (a later session would not know of it). Accepted
// WebSocket connections park too: their transport turns the deadline into
// an interruption between two messages (transport.ReadResumer); dialed
// ones, whose reads a deadline would break, do not. An idle TCP
// reservation then holds about 4 KiB of heap and 2 KiB of stack instead
// of 12.5 and 8, 7 KiB of RSS instead of 22 (relayd bench, 18,000
// reservations).
//
// Measurement builds (go build -tags relayd_frametrace) log every yamux
// frame header read and every data frame written, with the time
// (frametrace_on.go), so interop's TestCompare can measure how long relayed
// frames stay in relayd; other builds compile the hook to nothing.
//
// Memory after a burst. Once a burst of new or parked connections
// settles (release.go: at least 512 and an eighth of those held, then a
// quiet second), the host hands the memory the handshakes and the parked
// sessions freed back to the OS (debug.FreeOSMemory) instead of leaving
// it to the runtime's scavenger, which keeps up to twice the live heap.
//
// Stream endings. Close half-closes our write side (yamux FIN, QUIC FIN):
// the peer reads every byte, then EOF, and may keep sending. Reset is a
// real reset at once: QUIC RESET_STREAM + STOP_SENDING; on yamux an RST
// frame (type WindowUpdate, flag RST, length 0). hashicorp/yamux has no
// public reset (its own RST goes out only after StreamCloseTimeout), so the
// host makes one on the byte path it owns under the session
// (frameCoalescer, coalesce.go), which sees every frame boundary:
//   - to the peer: the RST frame is queued and written under the
//     coalescer's write lock, between two of yamux's frames (yamux writes a
//     frame in at most two calls, header then body, and the coalescer sends
//     both in one Noise write), either at once or by the send loop right
//     after the frame it is writing; a ping with an ID of ours (top bit
//     set) follows it;
//   - to ourselves: the same RST frame is handed to our session's receive
//     loop at the next frame boundary of the peer's byte stream (the
//     coalescer returns at most one frame per Read). yamux then handles it
//     as a peer's reset: the stream is marked reset, removed from the
//     session (NumStreams drops), blocked calls return, and no FIN, close
//     timer or later RST is sent for it. The ping's answer guarantees such a
//     boundary within one round trip even on an idle connection, and the
//     coalescer swallows it. Until then the stream wrapper already fails
//     Read and Write with ErrStreamReset.
//
// Frames yamux had queued for the stream before the RST may still follow
// it; the spec has receivers ignore frames for unknown streams, and both
// hashicorp/yamux and go-libp2p's yamux do. As with any yamux RST, the peer
// drops bytes it has received but not read yet.
//
// CloseRead stops reading. QUIC tells the peer (STOP_SENDING), whose
// writes then fail. yamux has no such frame: CloseRead on a yamux stream
// whose write side is closed resets it at once; otherwise the reset comes
// when Close is called, and until then the peer may fill its window and
// block. This is how the circuit ends a direction at the data cap.
package host
