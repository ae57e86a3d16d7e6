package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// KeyType is the libp2p KeyType enum.
type KeyType int32

// Key types, numbered as on the wire.
const (
	KeyRSA       KeyType = 0
	KeyEd25519   KeyType = 1
	KeySecp256k1 KeyType = 2
	KeyECDSA     KeyType = 3
)

func (t KeyType) String() string {
	switch t {
	case KeyRSA:
		return "RSA"
	case KeyEd25519:
		return "Ed25519"
	case KeySecp256k1:
		return "Secp256k1"
	case KeyECDSA:
		return "ECDSA"
	}
	return fmt.Sprintf("KeyType(%d)", int32(t))
}

// MaxPublicKeySize caps a marshalled public key. An RSA-8192 key is about
// 1.1 KiB, the largest thing the spec allows.
const MaxPublicKeySize = 2 << 10

// RSA key sizes accepted: below 2048 is insecure (go-libp2p refuses it too),
// above 8192 only makes verification expensive for no one's benefit.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// PublicKey is a libp2p public key of any supported type.
type PublicKey interface {
	Type() KeyType
	// Verify reports whether sig is a valid signature of data under the key,
	// using the signing rules of its type.
	Verify(data, sig []byte) bool
	// Marshal returns the deterministic libp2p PublicKey protobuf.
	Marshal() []byte
}

// UnmarshalPublicKey decodes a libp2p PublicKey protobuf of any key type.
func UnmarshalPublicKey(b []byte) (PublicKey, error) {
	if len(b) > MaxPublicKeySize {
		return nil, fmt.Errorf("%w: public key of %d bytes exceeds %d", ErrInvalidKey, len(b), MaxPublicKeySize)
	}
	m, err := parseKeyMessage(b)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %w", ErrInvalidKey, err)
	}
	switch m.typ {
	case KeyEd25519:
		return parseEd25519(m.data)
	case KeyRSA:
		return parseRSA(m.data)
	case KeySecp256k1:
		return parseSecp256k1(m.data)
	case KeyECDSA:
		return parseECDSA(m.data)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedKey, m.typ)
}

// Ed25519PublicKey wraps an Ed25519 public key. It panics if pub is not
// ed25519.PublicKeySize bytes long, which only a programming error can cause.
func Ed25519PublicKey(pub ed25519.PublicKey) PublicKey {
	if len(pub) != ed25519.PublicKeySize {
		panic(fmt.Sprintf("identity: Ed25519 public key of %d bytes", len(pub)))
	}
	return ed25519Key{k: append(ed25519.PublicKey(nil), pub...)}
}

type ed25519Key struct{ k ed25519.PublicKey }

func parseEd25519(data []byte) (PublicKey, error) {
	if len(data) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: Ed25519 key of %d bytes", ErrInvalidKey, len(data))
	}
	return Ed25519PublicKey(data), nil
}

func (ed25519Key) Type() KeyType { return KeyEd25519 }

func (k ed25519Key) Verify(data, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.k, data, sig)
}

func (k ed25519Key) Marshal() []byte { return appendKeyMessage(nil, KeyEd25519, k.k) }

// rsaKey keeps the canonical DER next to the parsed key so Marshal does not
// re-encode on every peer ID derivation.
type rsaKey struct {
	k   *rsa.PublicKey
	der []byte
}

func parseRSA(data []byte) (PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: RSA key: %w", ErrInvalidKey, err)
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: RSA key field holds a %T", ErrInvalidKey, pub)
	}
	if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("%w: RSA key of %d bits, want %d..%d", ErrInvalidKey, bits, minRSABits, maxRSABits)
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: RSA key: %w", ErrInvalidKey, err)
	}
	return rsaKey{k: k, der: der}, nil
}

func (rsaKey) Type() KeyType { return KeyRSA }

func (k rsaKey) Verify(data, sig []byte) bool {
	h := sha256.Sum256(data)
	return rsa.VerifyPKCS1v15(k.k, crypto.SHA256, h[:], sig) == nil
}

func (k rsaKey) Marshal() []byte { return appendKeyMessage(nil, KeyRSA, k.der) }

type ecdsaKey struct {
	k   *ecdsa.PublicKey
	der []byte
}

func parseECDSA(data []byte) (PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: ECDSA key: %w", ErrInvalidKey, err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: ECDSA key field holds a %T", ErrInvalidKey, pub)
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: ECDSA key: %w", ErrInvalidKey, err)
	}
	return ecdsaKey{k: k, der: der}, nil
}

func (ecdsaKey) Type() KeyType { return KeyECDSA }

func (k ecdsaKey) Verify(data, sig []byte) bool {
	h := sha256.Sum256(data)
	return ecdsa.VerifyASN1(k.k, h[:], sig)
}

func (k ecdsaKey) Marshal() []byte { return appendKeyMessage(nil, KeyECDSA, k.der) }

type secp256k1Key struct{ k *secp256k1.PublicKey }

// parseSecp256k1 accepts what decred parses (compressed, and the
// uncompressed forms go-libp2p also accepts); Marshal always emits the
// 33-byte compressed point, as go-libp2p does.
func parseSecp256k1(data []byte) (PublicKey, error) {
	k, err := secp256k1.ParsePubKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: secp256k1 key: %w", ErrInvalidKey, err)
	}
	return secp256k1Key{k: k}, nil
}

func (secp256k1Key) Type() KeyType { return KeySecp256k1 }

func (k secp256k1Key) Verify(data, sig []byte) bool {
	s, err := secpecdsa.ParseDERSignature(sig)
	if err != nil {
		return false
	}
	h := sha256.Sum256(data)
	return s.Verify(h[:], k.k)
}

func (k secp256k1Key) Marshal() []byte {
	return appendKeyMessage(nil, KeySecp256k1, k.k.SerializeCompressed())
}
