package p2ptls

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"

	"github.com/relayd/relayd/p2p/identity"
)

// maxSignedKeySize caps the extension value before it is parsed: the
// largest key (RSA-8192 protobuf, about 1.1 KiB) plus its signature
// (1 KiB) and DER headers fit well within it.
const maxSignedKeySize = identity.MaxPublicKeySize + 2<<10

// ErrMalformedExtension: the extension value is not a DER SignedKey.
var ErrMalformedExtension = errors.New("malformed libp2p public key extension")

// signedKey is the extension value: SEQUENCE { publicKey OCTET STRING,
// signature OCTET STRING }.
type signedKey struct {
	PublicKey []byte
	Signature []byte
}

// parseSignedKey decodes a DER SignedKey. A truncated value returns an
// error wrapping io.ErrUnexpectedEOF.
func parseSignedKey(b []byte) (signedKey, error) {
	var sk signedKey
	if len(b) > maxSignedKeySize {
		return sk, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformedExtension, len(b), maxSignedKeySize)
	}
	if len(b) == 0 {
		return sk, fmt.Errorf("%w: %w", ErrMalformedExtension, io.ErrUnexpectedEOF)
	}
	rest, err := asn1.Unmarshal(b, &sk)
	if err != nil {
		var se asn1.SyntaxError
		if errors.As(err, &se) && isTruncation(b) {
			return sk, fmt.Errorf("%w: %w", ErrMalformedExtension, io.ErrUnexpectedEOF)
		}
		return sk, fmt.Errorf("%w: %w", ErrMalformedExtension, err)
	}
	if len(rest) != 0 {
		return sk, fmt.Errorf("%w: %d trailing bytes", ErrMalformedExtension, len(rest))
	}
	// encoding/asn1 skips bytes left inside the SEQUENCE; DER has exactly
	// one encoding, so anything but ours is refused.
	if enc, err := sk.marshal(); err != nil || !bytes.Equal(enc, b) {
		return signedKey{}, fmt.Errorf("%w: not DER", ErrMalformedExtension)
	}
	return sk, nil
}

// isTruncation reports whether b's outer DER header claims more bytes than
// b holds, which is what a cut-off value looks like.
func isTruncation(b []byte) bool {
	if len(b) < 2 {
		return true
	}
	n, hdr := int(b[1]), 2
	if n&0x80 != 0 {
		lenBytes := n & 0x7f
		if lenBytes == 0 || lenBytes > 4 {
			return false
		}
		if len(b) < 2+lenBytes {
			return true
		}
		n = 0
		for _, c := range b[2 : 2+lenBytes] {
			n = n<<8 | int(c)
		}
		hdr += lenBytes
	}
	return len(b) < hdr+n
}

// marshal is the DER encoding of sk.
func (sk signedKey) marshal() ([]byte, error) {
	return asn1.Marshal(sk)
}
