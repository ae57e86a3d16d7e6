package mss

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

const (
	// maxProposals bounds how many proposals a responder answers with "na"
	// before giving up, so a peer cannot keep a stream busy forever.
	maxProposals = 16
	na           = "na"
	ls           = "ls"
)

// Negotiate runs the responder side: it writes the header, reads the peer's
// header and answers proposals until supported accepts one, which it echoes
// and returns. "ls" and unsupported proposals get "na"; after maxProposals of
// them it returns ErrNotSupported. Bytes the peer sent after the accepted
// proposal stay unread in rw. The caller bounds the exchange with deadlines.
func Negotiate(rw io.ReadWriter, supported func(proto string) bool) (string, error) {
	if err := writeMessage(rw, ID); err != nil {
		return "", err
	}
	if err := readHeader(rw); err != nil {
		return "", err
	}
	return answerProposals(rw, supported, maxProposals)
}

// answerProposals reads proposals and answers them, at most left of them,
// until supported accepts one.
func answerProposals(rw io.ReadWriter, supported func(proto string) bool, left int) (string, error) {
	for range left {
		p, err := ReadMessage(rw)
		if err != nil {
			return "", fmt.Errorf("mss: reading proposal: %w", err)
		}
		if p != ls && supported(p) {
			if err := writeMessage(rw, p); err != nil {
				return "", err
			}
			return p, nil
		}
		if err := writeMessage(rw, na); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("%w: peer made %d unsupported proposals", ErrNotSupported, maxProposals)
}

// ReadDeadliner is a stream whose read deadline can be moved: a muxed
// stream.
type ReadDeadliner interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
}

// NegotiateBuffered is Negotiate for a muxed stream, with one write fewer
// when the peer pipelines: it reads the peer's header first (every
// initiator sends its header unprompted), then looks, without waiting,
// whether the first proposal is already buffered (a read with a past
// deadline, which a yamux stream answers from its buffer). If so, as from
// go-libp2p's, rust-libp2p's and our own dialers that send header and
// proposal in one write, our header goes out with the answer in one write;
// if not, our header goes out at once and the negotiation goes on as in
// Negotiate, so a dialer that waits for our header before proposing is
// served as before. A stream that never answers from its buffer under a
// past deadline (quic-go checks the deadline first) simply takes the second
// path. The read deadline is deadline afterwards.
func NegotiateBuffered(rw ReadDeadliner, supported func(proto string) bool, deadline time.Time) (string, error) {
	if err := readHeader(rw); err != nil {
		return "", err
	}
	var first [1]byte
	rw.SetReadDeadline(time.Unix(1, 0))
	n, err := rw.Read(first[:])
	if derr := rw.SetReadDeadline(deadline); derr != nil && err == nil {
		err = derr
	}
	if n == 0 {
		if ne, ok := errors.AsType[net.Error](err); err != nil && (!ok || !ne.Timeout()) {
			return "", fmt.Errorf("mss: reading proposal: %w", err)
		}
		if err := writeMessage(rw, ID); err != nil {
			return "", err
		}
		return answerProposals(rw, supported, maxProposals)
	}
	// The proposal arrived with the header (one muxer frame): read the rest
	// of it, then answer it together with our header.
	p, err := readMessageAfter(first[0], rw)
	if err != nil {
		return "", fmt.Errorf("mss: reading proposal: %w", err)
	}
	msg := AppendMessage(nil, ID)
	if p != ls && supported(p) {
		if _, err := rw.Write(AppendMessage(msg, p)); err != nil {
			return "", fmt.Errorf("mss: writing header and %q: %w", p, err)
		}
		return p, nil
	}
	if _, err := rw.Write(AppendMessage(msg, na)); err != nil {
		return "", fmt.Errorf("mss: writing header and %q: %w", na, err)
	}
	return answerProposals(rw, supported, maxProposals-1)
}

// readMessageAfter is ReadMessage for a message whose first byte was read
// already. A one-byte length (every protocol ID under 128 bytes) is read
// without the generic decoder.
func readMessageAfter(first byte, r io.Reader) (string, error) {
	if first >= 0x80 {
		return ReadMessage(io.MultiReader(bytes.NewReader([]byte{first}), r))
	}
	b := make([]byte, first)
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("mss: reading message: %w", err)
	}
	return messageText(b)
}
