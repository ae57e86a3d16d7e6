// Package noise is the libp2p Noise secure channel (protocol ID "/noise",
// specs noise/README.md) built on github.com/flynn/noise, with inlined muxer
// negotiation (specs connections/inlined-muxer-negotiation.md).
//
// Handshake: Noise_XX_25519_ChaChaPoly_SHA256, empty prologue, one static
// X25519 key per Identity (per host; see Identity for why) and fresh
// ephemeral keys per connection. The DH function (dh.go) keeps both keys as
// crypto/ecdh private keys, so each X25519 costs one scalar multiplication
// (flynn's DH25519 costs two). Messages 2 (responder) and 3 (initiator) carry a
// NoiseHandshakePayload whose identity_sig signs "noise-libp2p-static-key:"
// followed by the sender's static key; the initiator sends no payload in
// message 1. The handshake honours its context: the context deadline becomes
// the conn deadline, cancellation unblocks pending I/O, and the deadline is
// cleared once the handshake succeeds. On error the caller still owns conn
// and must close it.
//
// Muxer negotiation: each side lists its muxers in the stream_muxers
// extension. The result (Conn.Muxer) is the first entry of the initiator's
// list that the responder also lists, or "" when either side sent none (the
// caller then runs multistream-select). Two non-empty lists without overlap
// fail the handshake.
//
// Framing: 2-byte big-endian length, then the Noise message (at most 65535
// bytes, so at most 65519 bytes of plaintext per frame). Reading a frame's
// body also asks for the next frame's length, so a stream of frames costs
// one read syscall per frame, not two.
//
// Memory: a Conn owns no frame buffer. Read keeps only the 2-byte length in
// the Conn and takes a 64 KiB buffer from a package sync.Pool while a frame is
// being read or while its plaintext has not all been delivered (callers like
// yamux read in small chunks); Write borrows one per call. An idle Conn holds
// only its session state (two cipher states, the remote key), measured at
// under 3 KiB of heap including a net.Pipe end. Steady-state Read and Write
// do not allocate.
//
// Limits: handshake messages are capped at 16 KiB (a payload is a key, a
// signature and a few muxer names or certificate hashes: well under 4 KiB
// even with RSA-8192); at most 32 muxers of at most 256 bytes and at most 16
// certificate hashes per payload.
//
// Errors: handshake failures wrap ErrHandshake (and ErrPeerIDMismatch,
// ErrNoMuxerOverlap, identity.ErrInvalidSignature or the context error where
// that is the cause). A Write error, including a timeout, is sticky because a
// frame may have been partly sent. A Read timeout is not: partial progress is
// kept and Read may be retried after extending the deadline. Decryption
// failures are sticky.
package noise
