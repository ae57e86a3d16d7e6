package mss

import (
	"errors"
	"fmt"
	"io"

	"github.com/relayd/relayd/p2p/pbio"
)

const (
	// ID is the multistream-select header and protocol ID.
	ID = "/multistream/1.0.0"
	// MaxMessageSize caps a message body, trailing newline included.
	MaxMessageSize = 1024
)

var (
	// ErrNotSupported means the peer answered "na" to every proposal, or
	// (as responder) that the peer made too many unsupported proposals.
	ErrNotSupported = errors.New("mss: protocol not supported")
	// ErrMalformed means the peer broke the protocol: bad length prefix,
	// oversize message, missing newline, wrong header or unexpected answer.
	ErrMalformed = errors.New("mss: malformed message")
)

// ReadMessage reads one message and returns it without its trailing newline.
// It reads the length prefix byte by byte and then exactly the body, never
// beyond, because the rest of the stream belongs to the next protocol.
// A stream ending before the first byte gives io.EOF; ending inside a message
// gives an error wrapping io.ErrUnexpectedEOF.
func ReadMessage(r io.Reader) (string, error) {
	b, err := pbio.ReadDelimited(r, MaxMessageSize)
	switch {
	case err == io.EOF:
		return "", io.EOF
	case errors.Is(err, pbio.ErrTooLarge), errors.Is(err, pbio.ErrMalformedLength):
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	case err != nil:
		return "", fmt.Errorf("mss: reading message: %w", err)
	}
	return messageText(b)
}

// messageText is a message's text: its body less the trailing newline
// every message must end in.
func messageText(b []byte) (string, error) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return "", fmt.Errorf("%w: message %q lacks trailing newline", ErrMalformed, b)
	}
	return string(b[:len(b)-1]), nil
}

// AppendMessage appends s as a message (length prefix, s, newline) to b.
// It does not enforce MaxMessageSize; SelectOneOf checks proposals first.
func AppendMessage(b []byte, s string) []byte {
	msg := make([]byte, 0, len(s)+1)
	msg = append(append(msg, s...), '\n')
	return pbio.AppendDelimited(b, msg)
}

// writeMessage sends s in a single Write.
func writeMessage(w io.Writer, s string) error {
	if _, err := w.Write(AppendMessage(nil, s)); err != nil {
		return fmt.Errorf("mss: writing %q: %w", s, err)
	}
	return nil
}

// readHeader reads the peer's header and checks it is ours.
func readHeader(r io.Reader) error {
	h, err := ReadMessage(r)
	if err != nil {
		return fmt.Errorf("mss: reading header: %w", err)
	}
	if h != ID {
		return fmt.Errorf("%w: header %q, want %q", ErrMalformed, h, ID)
	}
	return nil
}
