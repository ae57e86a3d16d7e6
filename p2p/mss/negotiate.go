package mss

import (
	"fmt"
	"io"
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
	for range maxProposals {
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
