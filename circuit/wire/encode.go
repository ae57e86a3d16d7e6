package wire

import "google.golang.org/protobuf/encoding/protowire"

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendNested appends field num holding the submessage that body appends.
// The body is encoded in place and then shifted right by the size of its
// length prefix, so no temporary buffer is needed.
func appendNested(b []byte, num protowire.Number, body func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	start := len(b)
	b = body(b)
	n := len(b) - start
	prefix := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, prefix)...)
	copy(b[start+prefix:], b[start:start+n])
	protowire.AppendVarint(b[start:start], uint64(n))
	return b
}
