// Package wire encodes and decodes the Circuit Relay v2 messages: HopMessage
// (/libp2p/circuit/relay/0.2.0/hop), StopMessage (/libp2p/circuit/relay/0.2.0/stop)
// and the reservation voucher payload. It owns the bytes only; framing
// (uvarint length prefix, read without over-reading) is p2p/pbio's job and the
// relay logic is package circuit's. spec.md lists every field we emit and
// accept.
//
// Messages are hand-encoded with protowire, no generated code. Encoding is
// deterministic: fields in number order, type always present (RESERVE is
// 08 00, as go-libp2p sends it), nil submessages and zero status omitted.
//
// Decoding is lenient where go-libp2p is (absent type reads as 0, unknown
// fields are skipped, repeated submessages merge as protobuf requires) and
// strict where a peer could make us allocate or misread: limits below are
// checked before any copy, wire types of known fields must match, and an
// unknown type enum value is an error. Decoded byte slices never alias the
// input.
//
// Limits (decoder): message MaxMessageSize (4096, go and rust use the same),
// MaxAddrs (64) addresses per list, MaxAddrLen (1 KiB) per address,
// MaxPeerIDLen (128 B), MaxVoucherLen (2 KiB). The encoders do not enforce
// them; the engine builds messages far below them.
package wire
