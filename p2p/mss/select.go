package mss

import (
	"fmt"
	"io"
)

// SelectOneOf runs the initiator side: it proposes protos in order and
// returns the first one the peer accepts, or ErrNotSupported if the peer
// answers "na" to all of them.
//
// Header and first proposal go out in one write, made in a goroutine while
// the peer's header is read: both sides send their header first, and on a
// synchronous transport (net.Pipe) two blocking writes would deadlock.
// SelectOneOf waits for that write before returning, so the caller's
// deadline on rw also bounds it. rw must allow a Read concurrent with a
// Write, as net.Conn and muxed streams do.
func SelectOneOf(rw io.ReadWriter, protos ...string) (string, error) {
	if err := checkProposals(protos); err != nil {
		return "", err
	}
	accepted, err := proposeFirst(rw, protos[0])
	if err != nil {
		return "", err
	}
	if accepted {
		return protos[0], nil
	}
	for _, p := range protos[1:] {
		if err := writeMessage(rw, p); err != nil {
			return "", err
		}
		accepted, err := readAnswer(rw, p)
		if err != nil {
			return "", err
		}
		if accepted {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: peer refused %q", ErrNotSupported, protos)
}

// proposeFirst writes header and proto concurrently with reading the peer's
// header and answer, and joins the write before returning.
func proposeFirst(rw io.ReadWriter, proto string) (bool, error) {
	werr := make(chan error, 1)
	go func() {
		_, err := rw.Write(AppendMessage(AppendMessage(nil, ID), proto))
		werr <- err
	}()
	err := readHeader(rw)
	accepted := false
	if err == nil {
		accepted, err = readAnswer(rw, proto)
	}
	wErr := <-werr
	if err != nil { // the peer's misbehaviour explains a failed write too
		return false, err
	}
	if wErr != nil {
		return false, fmt.Errorf("mss: writing header and %q: %w", proto, wErr)
	}
	return accepted, nil
}

// readAnswer reads the peer's answer to proto: true if echoed, false on "na".
func readAnswer(r io.Reader, proto string) (bool, error) {
	a, err := ReadMessage(r)
	switch {
	case err != nil:
		return false, fmt.Errorf("mss: reading answer to %q: %w", proto, err)
	case a == proto:
		return true, nil
	case a == na:
		return false, nil
	default:
		return false, fmt.Errorf("%w: answer %q to proposal %q", ErrMalformed, a, proto)
	}
}

// checkProposals refuses what a peer could not accept or we could not frame.
func checkProposals(protos []string) error {
	if len(protos) == 0 {
		return fmt.Errorf("%w: nothing to propose", ErrNotSupported)
	}
	for _, p := range protos {
		if p == "" || p == na || p == ls || len(p)+1 > MaxMessageSize {
			return fmt.Errorf("mss: invalid proposal %q", p)
		}
	}
	return nil
}

// SelectPipelined runs the initiator side for one protocol the peer is
// expected to support, the way go-libp2p's lazy NewStream does: header,
// proposal and first (the protocol's first message, may be empty) go out in
// a single Write, and only then are the peer's header and answer read. It
// saves the round trip SelectOneOf waits for before the protocol's first
// message can be sent, and the goroutine SelectOneOf writes from.
//
// If the peer refuses proto (ErrNotSupported), first has reached it as a
// bogus next proposal: the caller must reset the stream, not propose again.
// rw's Write must not wait for the peer to read (a muxed stream, which
// buffers within its window; not net.Pipe).
func SelectPipelined(rw io.ReadWriter, proto string, first []byte) error {
	if err := checkProposals([]string{proto}); err != nil {
		return err
	}
	msg := AppendMessage(AppendMessage(nil, ID), proto)
	if _, err := rw.Write(append(msg, first...)); err != nil {
		return fmt.Errorf("mss: writing header and %q: %w", proto, err)
	}
	if err := readHeader(rw); err != nil {
		return err
	}
	accepted, err := readAnswer(rw, proto)
	if err != nil {
		return err
	}
	if !accepted {
		return fmt.Errorf("%w: peer refused %q", ErrNotSupported, proto)
	}
	return nil
}
