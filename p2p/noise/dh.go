package noise

import (
	"crypto/ecdh"
	"crypto/subtle"
	"io"

	"github.com/flynn/noise"
)

// dh25519 is Noise's 25519 DH function, byte-for-byte flynn's DH25519,
// minus half of its scalar multiplications. flynn computes every DH with
// x/crypto's curve25519.X25519, which goes through crypto/ecdh's
// NewPrivateKey, and that derives the private key's public key (a full
// X25519 ladder) before the DH itself: a responder's key generation and
// three DHs cost eight ladders where four do. Here the keys of one
// handshake (our static key, prepared once per host, and the ephemeral key
// made by GenerateKeypair) are kept as *ecdh.PrivateKey, so each costs one
// ladder. A dh25519 serves one handshake, which is single-goroutine.
type dh25519 struct {
	static, eph *ecdh.PrivateKey
}

func (*dh25519) DHName() string { return "25519" }
func (*dh25519) DHLen() int     { return 32 }

// GenerateKeypair reads the private key from rng (as flynn does, so a
// deterministic rng gives flynn's keys) and keeps it for DH.
func (d *dh25519) GenerateKeypair(rng io.Reader) (noise.DHKey, error) {
	k, err := newX25519Key(rng)
	if err != nil {
		return noise.DHKey{}, err
	}
	d.eph = k
	return noise.DHKey{Private: k.Bytes(), Public: k.PublicKey().Bytes()}, nil
}

func (d *dh25519) DH(priv, pub []byte) ([]byte, error) {
	k := d.known(priv)
	if k == nil {
		var err error
		if k, err = ecdh.X25519().NewPrivateKey(priv); err != nil {
			return nil, err
		}
	}
	p, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	// An all-zero result (a low-order point from the peer) is an error, as
	// it is in flynn's DH25519.
	return k.ECDH(p)
}

// known is the kept key whose private bytes are priv, or nil.
func (d *dh25519) known(priv []byte) *ecdh.PrivateKey {
	for _, k := range []*ecdh.PrivateKey{d.eph, d.static} {
		if k != nil && subtle.ConstantTimeCompare(k.Bytes(), priv) == 1 {
			return k
		}
	}
	return nil
}

// newX25519Key reads a 32-byte private key from rng.
func newX25519Key(rng io.Reader) (*ecdh.PrivateKey, error) {
	var b [32]byte
	if _, err := io.ReadFull(rng, b[:]); err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPrivateKey(b[:])
}

// handshakeSuite is suite with a dh25519 holding static for one handshake.
func handshakeSuite(static *ecdh.PrivateKey) noise.CipherSuite {
	return noise.NewCipherSuite(&dh25519{static: static}, chachaPoly{}, noise.HashSHA256)
}
