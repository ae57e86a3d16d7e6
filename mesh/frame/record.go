package frame

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Record types. After Connect and Status, each direction of a mesh stream
// is a sequence of records: a 3-byte header (type, then a big-endian
// 16-bit payload length) and, for Data, the payload.
const (
	// Data carries 1 to MaxRecordPayload circuit bytes.
	Data byte = 0
	// Fin ends the direction gracefully: the reader sees EOF.
	Fin byte = 1
	// Reset abandons the circuit: the reader resets its outer leg.
	Reset byte = 2
	// Stop says the sender reads no more: the reader stops writing.
	Stop byte = 3
)

// RecordHeaderSize is the size of a record header.
const RecordHeaderSize = 3

// MaxRecordPayload caps a Data record's payload.
const MaxRecordPayload = 1<<16 - 1

// RecordHeader is a record's type and payload length.
type RecordHeader struct {
	Type byte
	Len  int
}

// Append encodes h.
func (h RecordHeader) Append(b []byte) []byte {
	b = append(b, h.Type)
	return binary.BigEndian.AppendUint16(b, uint16(h.Len))
}

// ParseRecordHeader decodes a record header at the start of b: Data
// carries 1 to MaxRecordPayload bytes, every other type none.
func ParseRecordHeader(b []byte) (RecordHeader, int, error) {
	switch {
	case len(b) == 0:
		return RecordHeader{}, 0, io.EOF
	case len(b) < RecordHeaderSize:
		return RecordHeader{}, 0, io.ErrUnexpectedEOF
	}
	h := RecordHeader{Type: b[0], Len: int(binary.BigEndian.Uint16(b[1:]))}
	switch {
	case h.Type > Stop:
		return RecordHeader{}, 0, fmt.Errorf("%w: record type %d", ErrMalformed, h.Type)
	case h.Type == Data && h.Len == 0:
		return RecordHeader{}, 0, fmt.Errorf("%w: empty data record", ErrMalformed)
	case h.Type != Data && h.Len != 0:
		return RecordHeader{}, 0, fmt.Errorf("%w: record type %d with %d payload bytes", ErrMalformed, h.Type, h.Len)
	}
	return h, RecordHeaderSize, nil
}
