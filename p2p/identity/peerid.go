package identity

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
	"github.com/multiformats/go-multibase"
	"google.golang.org/protobuf/encoding/protowire"
)

// Multihash and CID codes used by peer IDs.
const (
	mhIdentity     = 0x00
	mhSHA256       = 0x12
	sha256Len      = 32
	maxInlineKey   = 42 // marshalled keys up to this size are inlined, not hashed
	cidV1          = 1
	codecLibp2pKey = 0x72
	maxIDText      = 512 // generous: even base2 multibase of a 40-byte CID fits
)

// PeerID is the binary multihash of a peer's public key, held as a string so
// it is comparable and can key a map. The zero value is "no peer".
type PeerID string

// IDFromPublicKey derives the peer ID of pk: the identity multihash of the
// marshalled key when that is at most 42 bytes, else its sha2-256 multihash.
func IDFromPublicKey(pk PublicKey) PeerID {
	b := pk.Marshal()
	if len(b) <= maxInlineKey {
		return PeerID(append([]byte{mhIdentity, byte(len(b))}, b...))
	}
	h := sha256.Sum256(b)
	return PeerID(append([]byte{mhSHA256, sha256Len}, h[:]...))
}

// IDFromBytes validates a binary peer ID.
func IDFromBytes(b []byte) (PeerID, error) {
	switch {
	case len(b) == 2+sha256Len && b[0] == mhSHA256 && b[1] == sha256Len:
		return PeerID(b), nil
	case len(b) >= 2 && b[0] == mhIdentity:
		if _, err := identityKey(b); err != nil {
			return "", err
		}
		return PeerID(b), nil
	}
	return "", fmt.Errorf("%w: not an identity or sha2-256 multihash (%d bytes)", ErrInvalidPeerID, len(b))
}

// identityKey checks an identity-multihash peer ID (b[0] == 0x00) and
// returns its key. The content must be a public key in canonical encoding, so
// one key never has two peer IDs.
func identityKey(b []byte) (PublicKey, error) {
	if len(b) < 2 || int(b[1]) != len(b)-2 || b[1] > maxInlineKey {
		return nil, fmt.Errorf("%w: malformed identity multihash (%d bytes)", ErrInvalidPeerID, len(b))
	}
	pk, err := UnmarshalPublicKey(b[2:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPeerID, err)
	}
	if string(IDFromPublicKey(pk)) != string(b) {
		return nil, fmt.Errorf("%w: key not canonically encoded", ErrInvalidPeerID)
	}
	return pk, nil
}

// Decode parses a peer ID from text: a bare base58btc multihash ("12D3Koo…",
// "Qm…", "16Uiu2…") or a CIDv1 with codec libp2p-key in any multibase.
func Decode(s string) (PeerID, error) {
	if s == "" || len(s) > maxIDText {
		return "", fmt.Errorf("%w: text of %d characters", ErrInvalidPeerID, len(s))
	}
	if strings.HasPrefix(s, "Qm") || strings.HasPrefix(s, "1") {
		b, err := base58.Decode(s)
		if err != nil {
			return "", fmt.Errorf("%w: base58: %w", ErrInvalidPeerID, err)
		}
		return IDFromBytes(b)
	}
	_, b, err := multibase.Decode(s)
	if err != nil {
		return "", fmt.Errorf("%w: multibase: %w", ErrInvalidPeerID, err)
	}
	return idFromCID(b)
}

// idFromCID extracts the multihash of a binary CIDv1 <version><codec><mh>.
func idFromCID(b []byte) (PeerID, error) {
	version, n := protowire.ConsumeVarint(b)
	if n < 0 || version != cidV1 {
		return "", fmt.Errorf("%w: not a CIDv1", ErrInvalidPeerID)
	}
	b = b[n:]
	codec, n := protowire.ConsumeVarint(b)
	if n < 0 || codec != codecLibp2pKey {
		return "", fmt.Errorf("%w: CID codec is not libp2p-key", ErrInvalidPeerID)
	}
	return IDFromBytes(b[n:])
}

// String returns the base58btc form, or "" for the zero PeerID.
func (id PeerID) String() string {
	if id == "" {
		return ""
	}
	return base58.Encode([]byte(id))
}

// Bytes returns the binary multihash.
func (id PeerID) Bytes() []byte { return []byte(id) }

// PublicKey extracts the key embedded in an identity-multihash peer ID.
// Hashed (sha2-256) IDs return ErrNoPublicKey.
func (id PeerID) PublicKey() (PublicKey, error) {
	b := []byte(id)
	if len(b) < 2 || b[0] != mhIdentity {
		return nil, ErrNoPublicKey
	}
	return identityKey(b)
}

// MarshalText encodes the ID as base58btc, for config files and JSON.
func (id PeerID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText accepts every form Decode does.
func (id *PeerID) UnmarshalText(b []byte) error {
	p, err := Decode(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}
