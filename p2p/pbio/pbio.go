package pbio

import (
	"errors"
	"fmt"
	"io"
)

// maxPrefixLen is the multiformats unsigned-varint cap: 9 bytes, 63 bits.
const maxPrefixLen = 9

var (
	// ErrTooLarge means the length prefix announced more than the caller's
	// maximum; the body was not read.
	ErrTooLarge = errors.New("pbio: message too large")
	// ErrMalformedLength means the length prefix is not a minimal unsigned
	// varint of at most 9 bytes.
	ErrMalformedLength = errors.New("pbio: malformed length prefix")
)

// ReadDelimited reads one uvarint-length-prefixed message of at most maxLen
// bytes from r and returns its body. It reads no byte beyond the message.
//
// It returns io.EOF (unwrapped) if r ends before the first byte, an error
// wrapping io.ErrUnexpectedEOF if r ends inside the message, ErrTooLarge if
// the announced length exceeds maxLen (a negative maxLen counts as 0) and
// ErrMalformedLength for a bad prefix.
func ReadDelimited(r io.Reader, maxLen int) ([]byte, error) {
	n, err := readLength(r, maxLen)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("pbio: reading %d-byte body: %w", n, err)
	}
	return msg, nil
}

// readLength reads the uvarint prefix and checks it against maxLen after
// every byte, so an oversize prefix is refused as early as possible.
func readLength(r io.Reader, maxLen int) (int, error) {
	limit := uint64(max(maxLen, 0))
	next := byteSource(r)
	var v uint64
	for i := range maxPrefixLen {
		b, err := next()
		if err != nil {
			return 0, prefixReadError(i, err)
		}
		v |= uint64(b&0x7f) << (7 * i)
		if v > limit {
			return 0, fmt.Errorf("%w: length %d+ exceeds %d", ErrTooLarge, v, limit)
		}
		if b < 0x80 {
			if b == 0 && i > 0 {
				return 0, fmt.Errorf("%w: not minimally encoded", ErrMalformedLength)
			}
			return int(v), nil
		}
	}
	return 0, fmt.Errorf("%w: longer than %d bytes", ErrMalformedLength, maxPrefixLen)
}

func prefixReadError(i int, err error) error {
	if err == io.EOF {
		if i == 0 {
			return io.EOF
		}
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("pbio: reading length prefix: %w", err)
}

// byteSource returns a function reading exactly one byte from r.
func byteSource(r io.Reader) func() (byte, error) {
	if br, ok := r.(io.ByteReader); ok {
		return br.ReadByte
	}
	var buf [1]byte
	return func() (byte, error) {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return 0, err
		}
		return buf[0], nil
	}
}

// AppendDelimited appends the uvarint length of msg and msg to b.
func AppendDelimited(b []byte, msg []byte) []byte {
	b = appendUvarint(b, uint64(len(msg)))
	return append(b, msg...)
}

// WriteDelimited writes the length prefix and msg to w in a single Write call,
// so a message never straddles two transport frames needlessly.
func WriteDelimited(w io.Writer, msg []byte) error {
	buf := AppendDelimited(make([]byte, 0, maxPrefixLen+len(msg)), msg)
	n, err := w.Write(buf)
	if err == nil && n < len(buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("pbio: writing %d-byte message: %w", len(msg), err)
	}
	return nil
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
