// Package mss implements multistream-select 1.0 (/multistream/1.0.0), the
// negotiation that runs at the start of every libp2p connection upgrade and
// every stream.
//
// Messages are uvarint(len) ‖ text ‖ "\n", the length counting the newline.
// We only ever exchange short protocol IDs, so a message is capped at
// MaxMessageSize (1 KiB, newline included); go-multistream allows 64 KiB.
//
// Responder (Negotiate): writes the header, reads the peer's header, then
// answers proposals: a supported one is echoed and returned, anything else
// (including "ls", which we do not implement) gets "na". After 16 rejected
// proposals it gives up with ErrNotSupported. Pipelined ("lazy") dialers such
// as go-libp2p's NewStream send header, proposal and first application bytes
// in one packet; Negotiate reads exactly the negotiation messages and leaves
// the application bytes in the stream for the protocol handler.
//
// NegotiateBuffered is the responder for muxed streams (the host's): it
// reads the peer's header before writing its own and, when the first
// proposal is already buffered (a pipelining dialer), answers it together
// with the header in one write; otherwise it writes the header at once and
// goes on as Negotiate.
//
// Initiator (SelectOneOf): sends header and first proposal in one write,
// then proposes the others in order after each "na". SelectPipelined is the
// lazy initiator for a protocol the peer must support (the relay's stop
// stream): header, proposal and the protocol's first message in one write,
// answers read afterwards, so the negotiation costs no round trip of its own.
//
// Neither function sets deadlines: the caller bounds the exchange with the
// stream's deadline, which also unblocks the initiator's background write.
package mss
