package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// pemPrefix starts a PEM file; a libp2p protobuf key starts with 0x08.
var pemPrefix = []byte("-----BEGIN ")

// unmarshalKeyFile decodes an identity file: the libp2p protobuf, or a PEM
// "PRIVATE KEY" block holding a PKCS#8 Ed25519 key. PEM is accepted because
// tools without libp2p can make it: `openssl genpkey -algorithm ed25519`,
// and Helm's genPrivateKey "ed25519", which is how the chart creates a
// relay's identity Secret on first install.
func unmarshalKeyFile(b []byte) (ed25519.PrivateKey, error) {
	if !bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), pemPrefix) {
		return UnmarshalPrivateKey(b)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: PEM file without a PRIVATE KEY block (want PKCS#8 Ed25519)", ErrInvalidKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: PEM private key: %w", ErrInvalidKey, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T in PEM file (only Ed25519 is supported)", ErrUnsupportedKey, k)
	}
	return ek, nil
}
