package wire

import (
	"bytes"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one decoded protobuf field. Only varint and length-delimited
// values are kept; fixed-width and group fields are skipped, since none of
// our messages uses them.
type field struct {
	num    protowire.Number
	typ    protowire.Type
	varint uint64
	bytes  []byte // aliases the input; callers copy what they keep
}

// forEachField decodes b field by field and calls fn for each, in order.
// Unknown field numbers are fn's to ignore.
func forEachField(b []byte, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: tag: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.varint, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (f field) wrongType(name string) error {
	return fmt.Errorf("%w: %s (field %d) has wire type %d", ErrMalformed, name, f.num, f.typ)
}

// uint32Value decodes a uint32 field; larger values are refused rather than
// truncated as generated code would.
func (f field) uint32Value(name string) (uint32, error) {
	if f.typ != protowire.VarintType {
		return 0, f.wrongType(name)
	}
	if f.varint > math.MaxUint32 {
		return 0, fmt.Errorf("%w: %s %d overflows uint32", ErrMalformed, name, f.varint)
	}
	return uint32(f.varint), nil
}

func (f field) uint64Value(name string) (uint64, error) {
	if f.typ != protowire.VarintType {
		return 0, f.wrongType(name)
	}
	return f.varint, nil
}

// enumValue decodes a closed enum whose values run from 0 to maxValue.
func (f field) enumValue(name string, maxValue uint32) (uint32, error) {
	v, err := f.uint32Value(name)
	if err == nil && v > maxValue {
		err = fmt.Errorf("%w: unknown %s %d", ErrMalformed, name, v)
	}
	return v, err
}

// bytesValue decodes a singular bytes field of at most maxLen bytes into a
// fresh slice; empty decodes as nil so that absent and empty compare equal.
func (f field) bytesValue(name string, maxLen int) ([]byte, error) {
	if f.typ != protowire.BytesType {
		return nil, f.wrongType(name)
	}
	if len(f.bytes) > maxLen {
		return nil, fmt.Errorf("%w: %s is %d bytes, max %d", ErrMalformed, name, len(f.bytes), maxLen)
	}
	if len(f.bytes) == 0 {
		return nil, nil
	}
	return bytes.Clone(f.bytes), nil
}

// appendAddr decodes one element of a repeated address field onto list.
// Elements are never nil, so an empty address survives a round trip.
func (f field) appendAddr(list [][]byte, name string) ([][]byte, error) {
	if f.typ != protowire.BytesType {
		return nil, f.wrongType(name)
	}
	if len(list) >= MaxAddrs {
		return nil, fmt.Errorf("%w: %s has more than %d entries", ErrMalformed, name, MaxAddrs)
	}
	if len(f.bytes) > MaxAddrLen {
		return nil, fmt.Errorf("%w: %s entry is %d bytes, max %d", ErrMalformed, name, len(f.bytes), MaxAddrLen)
	}
	return append(list, append([]byte{}, f.bytes...)), nil
}

// checkSize refuses a message larger than MaxMessageSize.
func checkSize(b []byte, what string) error {
	if len(b) > MaxMessageSize {
		return fmt.Errorf("%w: %s is %d bytes, max %d", ErrMalformed, what, len(b), MaxMessageSize)
	}
	return nil
}
