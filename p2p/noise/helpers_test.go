package noise

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/flynn/noise"

	"github.com/relayd/relayd/p2p/identity"
)

// stockSuite is flynn's own ChaChaPoly suite: the reference our faster
// cipher must interoperate with.
var stockSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)

const testTimeout = 5 * time.Second

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (dialer, acceptor net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	dialer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	acceptor = <-accepted
	if acceptor == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { dialer.Close(); acceptor.Close() })
	return dialer, acceptor
}

func pipePair(t testing.TB) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

type side struct {
	key    ed25519.PrivateKey
	muxers []string
}

type pairResult struct {
	client, server       *Conn
	clientErr, serverErr error
}

// handshakePair runs Client on cc and Server on sc concurrently.
func handshakePair(t testing.TB, cc, sc net.Conn, client, server side, expect identity.PeerID) pairResult {
	t.Helper()
	ctx := testCtx(t, testTimeout)
	var r pairResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.server, r.serverErr = Server(ctx, sc, server.key, server.muxers)
		if r.serverErr != nil {
			sc.Close() // unblock a client still waiting for message 2
		}
	}()
	r.client, r.clientErr = Client(ctx, cc, client.key, expect, client.muxers)
	if r.clientErr != nil {
		cc.Close()
	}
	<-done
	return r
}

func writeRawFrame(w io.Writer, msg []byte) error {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	_, err := w.Write(append(b, msg...))
	return err
}

func readRawFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	_, err := io.ReadFull(r, b)
	return b, err
}

// signedPayload builds a payload the way the spec says, for raw peers.
func signedPayload(key ed25519.PrivateKey, static []byte, muxers []string) payload {
	return payload{
		identityKey: identity.Ed25519PublicKey(key.Public().(ed25519.PublicKey)).Marshal(),
		identitySig: ed25519.Sign(key, append([]byte(sigPrefix), static...)),
		muxers:      muxers,
	}
}

// rawInitiator is an independent initiator on flynn's stock suite. craft
// builds the message 3 payload from our static public key.
func rawInitiator(conn net.Conn, craft func(static []byte) []byte) (enc, dec *noise.CipherState, err error) {
	static, err := stockSuite.GenerateKeypair(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	hs, err := noise.NewHandshakeState(noise.Config{CipherSuite: stockSuite, Pattern: noise.HandshakeXX, Initiator: true, StaticKeypair: static})
	if err != nil {
		return nil, nil, err
	}
	msg, _, _, _ := hs.WriteMessage(nil, nil)
	if err := writeRawFrame(conn, msg); err != nil {
		return nil, nil, err
	}
	m2, err := readRawFrame(conn)
	if err != nil {
		return nil, nil, err
	}
	if _, _, _, err := hs.ReadMessage(nil, m2); err != nil {
		return nil, nil, err
	}
	msg, enc, dec, err = hs.WriteMessage(nil, craft(static.Public))
	if err != nil {
		return nil, nil, err
	}
	return enc, dec, writeRawFrame(conn, msg)
}

// rawResponder is an independent responder on flynn's stock suite.
func rawResponder(conn net.Conn, craft func(static []byte) []byte) (enc, dec *noise.CipherState, err error) {
	static, err := stockSuite.GenerateKeypair(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	hs, err := noise.NewHandshakeState(noise.Config{CipherSuite: stockSuite, Pattern: noise.HandshakeXX, StaticKeypair: static})
	if err != nil {
		return nil, nil, err
	}
	m1, err := readRawFrame(conn)
	if err != nil {
		return nil, nil, err
	}
	if _, _, _, err := hs.ReadMessage(nil, m1); err != nil {
		return nil, nil, err
	}
	msg, _, _, err := hs.WriteMessage(nil, craft(static.Public))
	if err != nil {
		return nil, nil, err
	}
	if err := writeRawFrame(conn, msg); err != nil {
		return nil, nil, err
	}
	m3, err := readRawFrame(conn)
	if err != nil {
		return nil, nil, err
	}
	_, dec, enc, err = hs.ReadMessage(nil, m3)
	return enc, dec, err
}
