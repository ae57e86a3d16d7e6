package p2ptls

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

// ALPN is the application protocol libp2p TLS negotiates.
const ALPN = "libp2p"

// signaturePrefix is prepended to the certificate's SubjectPublicKeyInfo
// before the host key signs it.
const signaturePrefix = "libp2p-tls-handshake:"

const (
	certBackdate = time.Hour
	certValidity = 100 * 365 * 24 * time.Hour
)

// ExtensionOID is the libp2p Public Key Extension's OID.
var ExtensionOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 53594, 1, 1}

// Identity is a host key's TLS certificate. It is safe for concurrent use.
type Identity struct {
	cert tls.Certificate
}

// NewIdentity makes the certificate for key: a fresh ECDSA P-256
// certificate key, self-signed, carrying the extension signed by key.
func NewIdentity(key ed25519.PrivateKey) (*Identity, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("p2ptls: not an Ed25519 private key")
	}
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("p2ptls: certificate key: %w", err)
	}
	ext, err := signedKeyExtension(key, &certKey.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl, err := certTemplate(time.Now())
	if err != nil {
		return nil, err
	}
	tmpl.ExtraExtensions = []pkix.Extension{ext}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &certKey.PublicKey, certKey)
	if err != nil {
		return nil, fmt.Errorf("p2ptls: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("p2ptls: parse own certificate: %w", err)
	}
	return &Identity{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: certKey, Leaf: leaf}}, nil
}

// Certificate is the identity's certificate and its key.
func (i *Identity) Certificate() tls.Certificate { return i.cert }

// signedKeyExtension binds certKey to the host key.
func signedKeyExtension(key ed25519.PrivateKey, certKey any) (pkix.Extension, error) {
	spki, err := x509.MarshalPKIXPublicKey(certKey)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("p2ptls: marshal certificate key: %w", err)
	}
	pub := identity.Ed25519PublicKey(key.Public().(ed25519.PublicKey))
	sk := signedKey{
		PublicKey: pub.Marshal(),
		Signature: ed25519.Sign(key, append([]byte(signaturePrefix), spki...)),
	}
	value, err := sk.marshal()
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("p2ptls: marshal extension: %w", err)
	}
	return pkix.Extension{Id: ExtensionOID, Value: value}, nil
}

func certTemplate(now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, fmt.Errorf("p2ptls: serial number: %w", err)
	}
	// RFC 5280 wants a non-empty issuer; the serial number in the subject
	// makes one without naming anything.
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{SerialNumber: serial.String()},
		NotBefore:    now.Add(-certBackdate),
		NotAfter:     now.Add(certValidity),
	}, nil
}
