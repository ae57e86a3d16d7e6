// Package identity owns libp2p keys, peer IDs, the identity key file and
// signed envelopes.
//
// Specs: libp2p/specs peer-ids/peer-ids.md and RFC/0002-signed-envelopes.md.
//
// Keys. Public keys of all four libp2p types are accepted from the wire so
// that relayd can verify any peer: RSA (PKIX DER, 2048..8192 bits,
// PKCS#1 v1.5 over SHA-256), Ed25519 (32 raw bytes), secp256k1 (compressed
// point, SHA-256 then DER signature) and ECDSA (PKIX DER, SHA-256 then DER
// signature). Marshal re-encodes from the parsed key, as go-libp2p does, so a
// peer ID derived here matches the one go-libp2p derives for the same key.
// relayd's own key is always Ed25519.
//
// Peer IDs. A PeerID holds the binary multihash as a string so it is
// comparable and usable as a map key. Only the two multihashes the spec allows
// are accepted: identity (marshalled key of at most 42 bytes, which must be a
// valid public key in its canonical encoding) and sha2-256. Text form is
// base58btc; Decode also accepts CIDv1 (codec libp2p-key) in any multibase.
//
// Key file. The identity file is the serialized libp2p PrivateKey protobuf
// {Type=Ed25519, Data=seed||pub}, the format go-libp2p's MarshalPrivateKey and
// go-libp2p-relay-daemon's identity file use, so identities can be moved
// between them. Files are created with mode 0600 and O_EXCL and never
// overwritten. Loading also accepts a PEM "PRIVATE KEY" (PKCS#8 Ed25519)
// file, which openssl and Helm's genPrivateKey can make without libp2p.
//
// Limits (checked before any allocation that depends on input):
//   - marshalled public key: 2 KiB (MaxPublicKeySize)
//   - marshalled private key / key file: 16 KiB (large enough to read an RSA
//     key file and say "unsupported" instead of "too large")
//   - signed envelope: 8 KiB (MaxEnvelopeSize)
//   - textual peer ID: 512 characters
package identity
