package noise

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/flynn/noise"

	"github.com/relayd/relayd/p2p/identity"
)

// ID is the multistream-select protocol ID of this security transport.
const ID = "/noise"

// sigPrefix is prepended to the static key before signing it (spec).
const sigPrefix = "noise-libp2p-static-key:"

// maxHandshakeMsg caps a received handshake message (see doc.go).
const maxHandshakeMsg = 16 << 10

var (
	// ErrHandshake wraps every handshake failure.
	ErrHandshake = errors.New("noise handshake failed")
	// ErrPeerIDMismatch: the responder is not the peer the client dialled.
	ErrPeerIDMismatch = errors.New("remote peer ID mismatch")
	// ErrNoMuxerOverlap: both sides listed muxers but none in common.
	ErrNoMuxerOverlap = errors.New("no common stream muxer")
)

// Identity is a host's side of every handshake: its identity key, a static
// Noise key and the signature binding the two. The spec lets the static
// key live as long as we like (it is not the identity key and is never
// persisted); keeping one per host instead of one per connection saves an
// X25519 key generation and an Ed25519 signature on every handshake, about
// a quarter of a handshake's CPU. Forward secrecy comes from the ephemeral
// keys, which stay per connection.
type Identity struct {
	key       ed25519.PrivateKey
	static    noise.DHKey
	staticKey *ecdh.PrivateKey // static, kept for dh25519
	pubKey    []byte           // our identity PublicKey protobuf
	sig       []byte           // identity signature over sigPrefix || static public key
}

// NewIdentity prepares the handshakes of the host whose identity is key.
func NewIdentity(key ed25519.PrivateKey) (*Identity, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: identity key of %d bytes", ErrHandshake, len(key))
	}
	sk, err := newX25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: generating static key: %w", ErrHandshake, err)
	}
	static := noise.DHKey{Private: sk.Bytes(), Public: sk.PublicKey().Bytes()}
	return &Identity{
		key:       key,
		static:    static,
		staticKey: sk,
		pubKey:    identity.Ed25519PublicKey(key.Public().(ed25519.PublicKey)).Marshal(),
		sig:       ed25519.Sign(key, append([]byte(sigPrefix), static.Public...)),
	}, nil
}

// Server runs the responder side of the handshake on conn.
func (id *Identity) Server(ctx context.Context, conn net.Conn, muxers []string) (*Conn, error) {
	h := &handshake{conn: conn, id: id, muxers: muxers}
	return h.run(ctx, h.respond)
}

// Client runs the initiator side. If remote is not "", the responder must
// prove that identity or the handshake fails with ErrPeerIDMismatch.
func (id *Identity) Client(ctx context.Context, conn net.Conn, remote identity.PeerID, muxers []string) (*Conn, error) {
	h := &handshake{conn: conn, id: id, muxers: muxers, expect: remote, initiator: true}
	return h.run(ctx, h.initiate)
}

// Server is Identity.Server with a one-off Identity for key.
func Server(ctx context.Context, conn net.Conn, key ed25519.PrivateKey, muxers []string) (*Conn, error) {
	id, err := NewIdentity(key)
	if err != nil {
		return nil, err
	}
	return id.Server(ctx, conn, muxers)
}

// Client is Identity.Client with a one-off Identity for key.
func Client(ctx context.Context, conn net.Conn, key ed25519.PrivateKey, remote identity.PeerID, muxers []string) (*Conn, error) {
	id, err := NewIdentity(key)
	if err != nil {
		return nil, err
	}
	return id.Client(ctx, conn, remote, muxers)
}

// handshake holds one handshake's state; it is discarded afterwards.
type handshake struct {
	conn      net.Conn
	id        *Identity
	muxers    []string
	expect    identity.PeerID
	initiator bool

	hs *noise.HandshakeState

	// Results.
	enc, dec   *noise.CipherState
	remoteKey  identity.PublicKey
	remotePeer identity.PeerID
	muxer      string
}

func (h *handshake) run(ctx context.Context, steps func() error) (*Conn, error) {
	if err := h.init(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if err := withContext(ctx, h.conn, steps); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return newConn(h.conn, h.enc, h.dec, h.remotePeer, h.remoteKey, h.muxer), nil
}

func (h *handshake) init() error {
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   handshakeSuite(h.id.staticKey),
		Random:        rand.Reader,
		Pattern:       noise.HandshakeXX,
		Initiator:     h.initiator,
		StaticKeypair: h.id.static,
	})
	if err != nil {
		return fmt.Errorf("initialising handshake state: %w", err)
	}
	h.hs = hs
	return nil
}

// initiate: -> e; <- e, ee, s, es, payload; -> s, se, payload.
func (h *handshake) initiate() error {
	if _, _, err := h.send(nil); err != nil {
		return fmt.Errorf("writing message 1: %w", err)
	}
	rp, _, _, err := h.recvPayload()
	if err != nil {
		return fmt.Errorf("reading message 2: %w", err)
	}
	if err := h.verify(rp); err != nil {
		return err
	}
	if h.muxer, err = selectMuxer(h.muxers, rp.muxers); err != nil {
		return err
	}
	if h.enc, h.dec, err = h.send(h.localPayload()); err != nil {
		return fmt.Errorf("writing message 3: %w", err)
	}
	return nil
}

// respond: <- e; -> e, ee, s, es, payload; <- s, se, payload.
func (h *handshake) respond() error {
	// Message 1 carries no payload worth reading: anything there was sent
	// before encryption and the spec forbids extensions in it.
	if _, _, _, err := h.recv(); err != nil {
		return fmt.Errorf("reading message 1: %w", err)
	}
	if _, _, err := h.send(h.localPayload()); err != nil {
		return fmt.Errorf("writing message 2: %w", err)
	}
	rp, dec, enc, err := h.recvPayload()
	if err != nil {
		return fmt.Errorf("reading message 3: %w", err)
	}
	if err := h.verify(rp); err != nil {
		return err
	}
	if h.muxer, err = selectMuxer(rp.muxers, h.muxers); err != nil {
		return err
	}
	h.enc, h.dec = enc, dec
	return nil
}

// localPayload carries our identity key and its signature of our static
// key.
func (h *handshake) localPayload() []byte {
	p := payload{identityKey: h.id.pubKey, identitySig: h.id.sig, muxers: h.muxers}
	return p.append(nil)
}

// verify checks the remote payload against the static key the handshake
// authenticated, and records who the remote is.
func (h *handshake) verify(p payload) error {
	pk, err := identity.UnmarshalPublicKey(p.identityKey)
	if err != nil {
		return fmt.Errorf("remote identity key: %w", err)
	}
	msg := append([]byte(sigPrefix), h.hs.PeerStatic()...)
	if !pk.Verify(msg, p.identitySig) {
		return fmt.Errorf("remote static key: %w", identity.ErrInvalidSignature)
	}
	id := identity.IDFromPublicKey(pk)
	if h.expect != "" && id != h.expect {
		return fmt.Errorf("%w: dialled %s, reached %s", ErrPeerIDMismatch, h.expect, id)
	}
	h.remoteKey, h.remotePeer = pk, id
	return nil
}

// send writes one framed handshake message. The final message returns the
// (initiator→responder, responder→initiator) cipher states.
func (h *handshake) send(pl []byte) (cs1, cs2 *noise.CipherState, err error) {
	bp := getFrameBuf()
	defer putFrameBuf(bp)
	msg, cs1, cs2, err := h.hs.WriteMessage((*bp)[:2], pl)
	if err != nil {
		return nil, nil, err
	}
	binary.BigEndian.PutUint16(msg, uint16(len(msg)-2))
	if _, err := h.conn.Write(msg); err != nil {
		return nil, nil, err
	}
	return cs1, cs2, nil
}

// recv reads one framed handshake message and returns its payload, which
// flynn copies out of the pooled frame buffer.
func (h *handshake) recv() (pl []byte, cs1, cs2 *noise.CipherState, err error) {
	var hdr [2]byte
	if _, err := io.ReadFull(h.conn, hdr[:]); err != nil {
		return nil, nil, nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n > maxHandshakeMsg {
		return nil, nil, nil, fmt.Errorf("message of %d bytes exceeds %d", n, maxHandshakeMsg)
	}
	bp := getFrameBuf()
	defer putFrameBuf(bp)
	if _, err := io.ReadFull(h.conn, (*bp)[:n]); err != nil {
		return nil, nil, nil, noEOF(err)
	}
	return h.hs.ReadMessage(nil, (*bp)[:n])
}

func (h *handshake) recvPayload() (p payload, cs1, cs2 *noise.CipherState, err error) {
	pl, cs1, cs2, err := h.recv()
	if err != nil {
		return p, nil, nil, err
	}
	if p, err = parsePayload(pl); err != nil {
		return p, nil, nil, err
	}
	return p, cs1, cs2, nil
}

// selectMuxer picks the first initiator muxer the responder also lists.
func selectMuxer(initiator, responder []string) (string, error) {
	if len(initiator) == 0 || len(responder) == 0 {
		return "", nil
	}
	for _, m := range initiator {
		if slices.Contains(responder, m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: initiator %q, responder %q", ErrNoMuxerOverlap, initiator, responder)
}

// withContext runs fn with conn's deadline bound to ctx: the ctx deadline is
// applied up front, and cancellation sets a past deadline to unblock I/O.
// The deadline is cleared on success.
func withContext(ctx context.Context, conn net.Conn, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			return fmt.Errorf("setting deadline: %w", err)
		}
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
	err := fn()
	if !stop() {
		<-fired // never clear the deadline under the callback's feet
	}
	if err != nil {
		if cerr := ctxErr(ctx); cerr != nil {
			return fmt.Errorf("%w: %w", cerr, err)
		}
		return err
	}
	return conn.SetDeadline(time.Time{})
}

// ctxErr is ctx.Err, but also reports an expired deadline whose timer has not
// fired yet: the conn deadline can trip a moment before ctx is marked done.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// noEOF turns an EOF inside a message into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
