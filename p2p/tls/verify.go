package p2ptls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

// Verification outcomes; errors from this package wrap one of them.
var (
	// ErrNoExtension: the certificate lacks the libp2p extension.
	ErrNoExtension = errors.New("certificate lacks the libp2p public key extension")
	// ErrInvalidCertificate: the chain breaks one of the spec's rules.
	ErrInvalidCertificate = errors.New("invalid libp2p certificate")
	// ErrPeerMismatch: a valid certificate of another peer than dialed.
	ErrPeerMismatch = errors.New("peer ID mismatch")
)

// maxCertSize caps a peer certificate before it is parsed; ours is about
// 400 bytes, and one with an RSA-8192 host key stays under 4 KiB.
const maxCertSize = 16 << 10

// VerifyChain checks a peer's raw certificate chain as received in the
// handshake and returns the peer's host key.
func VerifyChain(rawCerts [][]byte, now time.Time) (identity.PublicKey, error) {
	if len(rawCerts) != 1 {
		return nil, fmt.Errorf("%w: %d certificates, want exactly 1", ErrInvalidCertificate, len(rawCerts))
	}
	if len(rawCerts[0]) > maxCertSize {
		return nil, fmt.Errorf("%w: certificate of %d bytes", ErrInvalidCertificate, len(rawCerts[0]))
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCertificate, err)
	}
	return VerifyCertificate(cert, now)
}

// VerifyCertificate checks one parsed peer certificate and returns the
// peer's host key.
func VerifyCertificate(cert *x509.Certificate, now time.Time) (identity.PublicKey, error) {
	value, err := extensionValue(cert)
	if err != nil {
		return nil, err
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%w: not valid at %s (valid %s to %s)", ErrInvalidCertificate,
			now.UTC().Format(time.RFC3339), cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return nil, fmt.Errorf("%w: self-signature: %w", ErrInvalidCertificate, err)
	}
	return verifySignedKey(value, cert.RawSubjectPublicKeyInfo)
}

// extensionValue finds the libp2p extension and refuses any other critical
// extension we do not understand.
func extensionValue(cert *x509.Certificate) ([]byte, error) {
	for _, oid := range cert.UnhandledCriticalExtensions {
		if !oid.Equal(ExtensionOID) {
			return nil, fmt.Errorf("%w: unknown critical extension %s", ErrInvalidCertificate, oid)
		}
	}
	var value []byte
	found := false
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(ExtensionOID) {
			if found {
				return nil, fmt.Errorf("%w: libp2p extension appears twice", ErrInvalidCertificate)
			}
			value, found = ext.Value, true
		}
	}
	if !found {
		return nil, ErrNoExtension
	}
	return value, nil
}

// verifySignedKey checks the extension's signature over the certificate's
// SubjectPublicKeyInfo.
func verifySignedKey(value, spki []byte) (identity.PublicKey, error) {
	sk, err := parseSignedKey(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCertificate, err)
	}
	pub, err := identity.UnmarshalPublicKey(sk.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: host key: %w", ErrInvalidCertificate, err)
	}
	msg := make([]byte, 0, len(signaturePrefix)+len(spki))
	msg = append(append(msg, signaturePrefix...), spki...)
	if !pub.Verify(msg, sk.Signature) {
		return nil, fmt.Errorf("%w: extension signature does not verify", ErrInvalidCertificate)
	}
	return pub, nil
}
