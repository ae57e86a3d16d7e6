package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
)

// maxPrivateKeySize caps a marshalled private key. It is far above the 68
// bytes of an Ed25519 key so that an RSA key file is reported as unsupported
// rather than as oversized.
const maxPrivateKeySize = 16 << 10

// GenerateKey returns a new Ed25519 identity key from crypto/rand.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating Ed25519 key: %w", err)
	}
	return k, nil
}

// MarshalPrivateKey encodes k as the libp2p PrivateKey protobuf
// {Type=Ed25519, Data=seed||pub}, byte-for-byte what go-libp2p writes.
func MarshalPrivateKey(k ed25519.PrivateKey) []byte {
	return appendKeyMessage(nil, KeyEd25519, k)
}

// UnmarshalPrivateKey decodes an Ed25519 libp2p PrivateKey protobuf. Data is
// seed||pub (64 bytes) or the legacy seed||pub||pub (96 bytes); the public
// half must match the one derived from the seed.
func UnmarshalPrivateKey(b []byte) (ed25519.PrivateKey, error) {
	if len(b) > maxPrivateKeySize {
		return nil, fmt.Errorf("%w: private key of %d bytes exceeds %d", ErrInvalidKey, len(b), maxPrivateKeySize)
	}
	m, err := parseKeyMessage(b)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %w", ErrInvalidKey, err)
	}
	if m.typ != KeyEd25519 {
		return nil, fmt.Errorf("%w: %s private key (only Ed25519 is supported)", ErrUnsupportedKey, m.typ)
	}
	d := m.data
	switch {
	case len(d) == ed25519.PrivateKeySize:
	case len(d) == ed25519.PrivateKeySize+ed25519.PublicKeySize && bytes.Equal(d[32:64], d[64:]):
		d = d[:ed25519.PrivateKeySize]
	default:
		return nil, fmt.Errorf("%w: Ed25519 private key data of %d bytes", ErrInvalidKey, len(d))
	}
	k := ed25519.NewKeyFromSeed(d[:ed25519.SeedSize])
	if !bytes.Equal(k[ed25519.SeedSize:], d[ed25519.SeedSize:]) {
		return nil, fmt.Errorf("%w: Ed25519 public half does not match the seed", ErrInvalidKey)
	}
	return k, nil
}

// PeerIDOf returns the peer ID of an Ed25519 private key.
func PeerIDOf(k ed25519.PrivateKey) PeerID {
	return IDFromPublicKey(Ed25519PublicKey(k.Public().(ed25519.PublicKey)))
}
