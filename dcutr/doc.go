// Package dcutr is Direct Connection Upgrade through Relay (/libp2p/dcutr,
// libp2p specs relay/DCUtR.md): two peers that met on a relayed circuit
// synchronise a hole punch over it and move to a direct connection.
//
// It owns the HolePunch message codec (Parse, Message.Append: proto2,
// field 1 type CONNECT=100 / SYNC=300, field 2 repeated ObsAddrs), the two
// roles' exchanges, their timing and retries (Initiator, Respond), and
// Service, which runs both roles on a p2p/host.Host.
//
// Roles, as the spec has them. B received the relayed connection (it holds
// the reservation; the relay's STOP reached it). A opened the circuit.
//   - B opens a dcutr stream over the relayed connection, sends CONNECT with
//     its addresses and starts a timer; A answers CONNECT with its own; B
//     takes the time between the two as the RTT, sends SYNC and waits RTT/2.
//   - A, on SYNC, dials B's addresses at once. B, when its timer fires,
//     punches: over TCP it dials A's addresses from its listening port
//     (simultaneous open); over QUIC it sends datagrams of random bytes to
//     A's addresses from its listening UDP socket until A's QUIC dial gets
//     through. Above TCP, A is the upgrade's initiator and B the responder
//     whoever's SYN won (host.DialAsResponder); over QUIC, A is the client.
//   - A round that ends without a direct connection is retried with a fresh
//     stream and a fresh RTT, up to Config.Attempts (3) rounds in all. A
//     protocol error (a message out of turn, no usable addresses) ends the
//     punch at once: a retry cannot fix it.
//   - A answers dcutr streams only on relayed connections it opened, as
//     go-libp2p does. go-libp2p (v0.51) as B is the upgrade's responder on
//     rounds 1 and 2 but its initiator on round 3 (a bridge for old go
//     peers); this package keeps the spec's roles on every round, so with
//     a go-libp2p B and us as A a third round cannot succeed over TCP
//     (both initiate). Rounds 1 and 2, and every round with us as B,
//     interoperate (the interop NAT lab runs both pairings).
//
// Each side's punch ends at its first direct connection and aborts its
// other attempts; when two paths (TCP and QUIC, say) finish at nearly the
// same time, the two sides may each keep a different one and the other's
// handshake is cut. Result.Conn is then already closed: callers should use
// any live direct connection to the peer (host.WaitConn with
// host.DirectConn; the probe's EchoDirect does).
//
// Defaults (Config): Attempts 3, StreamTimeout 60 s per exchange (go's),
// PunchTimeout 10 s per round (go's direct dial timeout). Messages are
// capped at 4096 bytes (go's maxMsgSize), 32 addresses of at most 256 bytes.
//
// Do the relay's default circuit limits (120 s, 131072 bytes per
// direction) fit identify plus DCUtR with 3 rounds? Per direction, worst
// case: the upgrade (multistream, Noise XX with its payload, yamux) under
// 1 KiB; identify and an identify push at go's 8 KiB cap each, 16 KiB;
// three rounds of CONNECT (≤ 4 KiB) and SYNC with stream negotiation and
// yamux/Noise framing, under 13 KiB; pings, 32 bytes each. About 30 KiB of
// 128 KiB, and typical messages are a tenth of their caps. Time: the
// upgrade and identify take ~4 RTTs; each round is a stream open and
// exchange (~2 RTT), the RTT/2 wait and at most PunchTimeout (10 s); go's
// connection reversal may first spend 10 s. With a 1 s RTT through the
// relay: 4 + 10 + 3 × (2.5 + 10) ≈ 52 s of 120 s. The relay needs nothing
// special: it carries the bytes and never looks inside.
//
// No metrics here: the outcome goes to the caller (probe exports it as
// relayd_probe_*).
package dcutr
