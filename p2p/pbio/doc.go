// Package pbio reads and writes uvarint-length-delimited messages, the framing
// libp2p uses for protobuf messages (hop, stop, identify, DCUtR) and, with a
// trailing newline, for multistream-select.
//
// ReadDelimited never reads past the end of the message it returns: it reads
// the length prefix one byte at a time and then exactly the body. That is a
// correctness requirement, not an optimisation: after a hop STATUS OK, or
// after a pipelined multistream proposal, the rest of the stream belongs to
// someone else (the relayed byte pipe, the next protocol). If the reader also
// implements io.ByteReader (a bufio.Reader the caller owns) the prefix is read
// through ReadByte instead, which is cheaper and equally exact.
//
// Limits: the caller passes the maximum body length; a larger length is
// rejected with ErrTooLarge before anything is allocated. An accepted length
// is allocated in full before the body arrives, so keep maxima small (ours
// are 1-8 KiB). Length prefixes must
// be minimally encoded (multiformats unsigned-varint rules) and at most 9
// bytes long (the multiformats cap, 63 bits of value).
package pbio
