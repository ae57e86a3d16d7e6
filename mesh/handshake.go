package mesh

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/flynn/noise"

	"github.com/relayd/relayd/mesh/frame"
	p2pnoise "github.com/relayd/relayd/p2p/noise"
)

// prologue binds both handshake sides to this protocol and version.
const prologue = "relayd-mesh/1"

// maxHandshakeMsg caps a handshake message: an ephemeral key, a Hello and
// a tag.
const maxHandshakeMsg = 32 + frame.MaxFrameSize + 16

var cipherSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)

// handshakeError carries a handshake failure's metric reason.
type handshakeError struct {
	reason string
	err    error
}

func (e *handshakeError) Error() string { return "mesh handshake: " + e.reason + ": " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

func hsFail(reason string, err error) error { return &handshakeError{reason: reason, err: err} }

// failReason is the metric reason of a handshake error.
func failReason(err error) string {
	var he *handshakeError
	if errors.As(err, &he) {
		return he.reason
	}
	return failIO
}

// pskOf derives the 32-byte Noise pre-shared key from the cluster secret.
func pskOf(secret []byte) []byte {
	h := sha256.New()
	h.Write([]byte("relayd mesh psk v1\x00"))
	h.Write(secret)
	return h.Sum(nil)
}

func newHandshake(psk []byte, initiator bool) (*noise.HandshakeState, error) {
	return noise.NewHandshakeState(noise.Config{
		CipherSuite:           cipherSuite,
		Random:                rand.Reader,
		Pattern:               noise.HandshakeNN,
		Initiator:             initiator,
		Prologue:              []byte(prologue),
		PresharedKey:          psk,
		PresharedKeyPlacement: 0,
	})
}

// clientHandshake runs Noise_NNpsk0 as initiator, sending hello (its Want
// names the node dialed), and returns the secure conn and the responder's
// Hello. The caller sets and clears conn's deadline.
func clientHandshake(conn net.Conn, psk []byte, hello frame.Hello) (*p2pnoise.Conn, frame.Hello, error) {
	hs, err := newHandshake(psk, true)
	if err != nil {
		return nil, frame.Hello{}, err
	}
	msg, _, _, err := hs.WriteMessage(nil, hello.Append(nil))
	if err != nil {
		return nil, frame.Hello{}, err
	}
	if err := writeMsg(conn, msg); err != nil {
		return nil, frame.Hello{}, hsFail(failIO, err)
	}
	msg, err = readMsg(conn)
	if err != nil {
		return nil, frame.Hello{}, hsFail(failIO, err)
	}
	payload, enc, dec, err := hs.ReadMessage(nil, msg)
	if err != nil {
		return nil, frame.Hello{}, hsFail(failAuth, err)
	}
	resp, err := parseHello(payload)
	if err != nil {
		return nil, frame.Hello{}, err
	}
	if resp.Node != hello.Want {
		return nil, frame.Hello{}, hsFail(failWrongNode, fmt.Errorf("dialed node %q, reached %q", hello.Want, resp.Node))
	}
	return p2pnoise.NewSessionConn(conn, enc, dec), resp, nil
}

// serverHandshake runs Noise_NNpsk0 as responder for node self. A dialer
// without the secret fails on its first message, before anything is
// answered.
func serverHandshake(conn net.Conn, psk []byte, self string) (*p2pnoise.Conn, frame.Hello, error) {
	hs, err := newHandshake(psk, false)
	if err != nil {
		return nil, frame.Hello{}, err
	}
	msg, err := readMsg(conn)
	if err != nil {
		return nil, frame.Hello{}, hsFail(failIO, err)
	}
	payload, _, _, err := hs.ReadMessage(nil, msg)
	if err != nil {
		return nil, frame.Hello{}, hsFail(failAuth, err)
	}
	hello, err := parseHello(payload)
	if err != nil {
		return nil, frame.Hello{}, err
	}
	if hello.Want != self {
		return nil, frame.Hello{}, hsFail(failWrongNode, fmt.Errorf("node %q dialed %q, this is %q", hello.Node, hello.Want, self))
	}
	msg, dec, enc, err := hs.WriteMessage(nil, frame.Hello{Version: frame.Version, Node: self}.Append(nil))
	if err != nil {
		return nil, frame.Hello{}, err
	}
	if err := writeMsg(conn, msg); err != nil {
		return nil, frame.Hello{}, hsFail(failIO, err)
	}
	return p2pnoise.NewSessionConn(conn, enc, dec), hello, nil
}

func parseHello(b []byte) (frame.Hello, error) {
	h, n, err := frame.ParseHello(b)
	switch {
	case err != nil:
		return h, hsFail(failMalformed, err)
	case n != len(b):
		return h, hsFail(failMalformed, errors.New("trailing bytes after hello"))
	case h.Version != frame.Version:
		return h, hsFail(failVersion, fmt.Errorf("mesh version %d, want %d", h.Version, frame.Version))
	case h.Node == "":
		return h, hsFail(failMalformed, errors.New("hello without node ID"))
	}
	return h, nil
}

// writeMsg and readMsg frame handshake messages like the transport does:
// a 2-byte big-endian length, then the message.
func writeMsg(w io.Writer, msg []byte) error {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	_, err := w.Write(append(b, msg...))
	return err
}

func readMsg(r io.Reader) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n > maxHandshakeMsg {
		return nil, fmt.Errorf("handshake message of %d bytes, at most %d", n, maxHandshakeMsg)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return msg, nil
}
