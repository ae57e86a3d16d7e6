// Package p2ptls implements the libp2p TLS 1.3 handshake's peer
// authentication (libp2p/specs tls/tls.md), as QUIC uses it.
//
// Each side presents exactly one self-signed certificate whose key is a
// fresh ECDSA P-256 key, unrelated to the host key. The certificate carries
// the libp2p Public Key Extension (OID 1.3.6.1.4.1.53594.1.1): a DER
// SignedKey {publicKey, signature} where publicKey is the host's libp2p
// PublicKey protobuf and signature is the host key's signature over
// "libp2p-tls-handshake:" followed by the certificate's DER
// SubjectPublicKeyInfo. Verification derives the peer ID from that key.
//
// What is checked on a peer's chain: exactly one certificate; it is within
// NotBefore/NotAfter; its self-signature is valid; it has the extension;
// it has no critical extension other than ours; the SignedKey parses as
// DER with nothing trailing, its key is a supported libp2p key, and the
// signature verifies. A client also checks the derived peer ID against
// the one it dialed.
//
// Configs from this package: TLS 1.3 only, ALPN "libp2p", the server
// requires a client certificate, session tickets are off (a resumed
// session would skip the certificate check), and no SNI is sent (the spec
// reserves it). Our certificate is valid from one hour ago (clock skew)
// for 100 years: it is made once per process and must not expire under a
// long-running relay.
//
// The package name is p2ptls so callers can import crypto/tls beside it.
package p2ptls
