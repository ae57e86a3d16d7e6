package identity

import "errors"

// Sentinel outcomes; errors returned by this package wrap one of them.
var (
	// ErrInvalidPeerID: bytes or text that are not a valid libp2p peer ID.
	ErrInvalidPeerID = errors.New("invalid peer ID")
	// ErrInvalidKey: a malformed key encoding, or a key that fails checks.
	ErrInvalidKey = errors.New("invalid key")
	// ErrInvalidSignature: a signature that does not verify.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrUnsupportedKey: a key type this package does not handle here.
	ErrUnsupportedKey = errors.New("unsupported key type")
	// ErrNoPublicKey: the peer ID is a hash, so the key cannot be recovered.
	ErrNoPublicKey = errors.New("peer ID does not embed a public key")
	// ErrInvalidEnvelope: a malformed signed envelope.
	ErrInvalidEnvelope = errors.New("invalid signed envelope")
)
