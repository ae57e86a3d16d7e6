package noise

import (
	"crypto/cipher"
	"encoding/binary"

	"github.com/flynn/noise"
	"golang.org/x/crypto/chacha20poly1305"
)

// suite is Noise_*_25519_ChaChaPoly_SHA256 with our ChaChaPoly below; a
// handshake uses handshakeSuite (dh.go), the same suite with a faster DH.
var suite = noise.NewCipherSuite(noise.DH25519, chachaPoly{}, noise.HashSHA256)

// chachaPoly is the Noise ChaChaPoly cipher, byte-for-byte flynn's
// CipherChaChaPoly (nonce = 4 zero bytes || little-endian counter). It exists
// because flynn builds every nonce in a slice that escapes to the heap,
// which would cost an allocation per frame; here the nonce lives in the
// cipher. flynn's CipherState still owns the counter and its exhaustion
// check. Each Cipher serves one CipherState, which callers serialise.
type chachaPoly struct{}

func (chachaPoly) CipherName() string { return "ChaChaPoly" }

func (chachaPoly) Cipher(k [32]byte) noise.Cipher {
	aead, err := chacha20poly1305.New(k[:])
	if err != nil {
		panic(err) // unreachable: the key is always 32 bytes
	}
	return &chachaCipher{aead: aead}
}

type chachaCipher struct {
	aead  cipher.AEAD
	nonce [chacha20poly1305.NonceSize]byte
}

func (c *chachaCipher) Encrypt(out []byte, n uint64, ad, plaintext []byte) []byte {
	binary.LittleEndian.PutUint64(c.nonce[4:], n)
	return c.aead.Seal(out, c.nonce[:], plaintext, ad)
}

func (c *chachaCipher) Decrypt(out []byte, n uint64, ad, ciphertext []byte) ([]byte, error) {
	binary.LittleEndian.PutUint64(c.nonce[4:], n)
	return c.aead.Open(out, c.nonce[:], ciphertext, ad)
}
