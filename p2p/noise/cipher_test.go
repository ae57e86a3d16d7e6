package noise

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/flynn/noise"
)

func TestChaChaPolyMatchesFlynn(t *testing.T) {
	var k [32]byte
	rand.Read(k[:])
	ours := noise.UnsafeNewCipherState(suite, k, 0)
	stock := noise.UnsafeNewCipherState(stockSuite, k, 0)
	for i, size := range []int{0, 1, 4096, maxPlaintext} {
		pt := make([]byte, size)
		rand.Read(pt)
		a, err := ours.Encrypt(nil, []byte("ad"), pt)
		if err != nil {
			t.Fatal(err)
		}
		b, err := stock.Encrypt(nil, []byte("ad"), pt)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("message %d (%d bytes) differs from flynn's ChaChaPoly", i, size)
		}
	}
	if ours.Nonce() != stock.Nonce() {
		t.Fatal("nonce counters diverged")
	}
}

// flynn's CipherState refuses to encrypt once the nonce space is used up.
func TestNonceExhaustion(t *testing.T) {
	cs := noise.UnsafeNewCipherState(suite, [32]byte{}, noise.MaxNonce)
	if _, err := cs.Encrypt(nil, nil, []byte("x")); err != nil {
		t.Fatalf("last nonce refused: %v", err)
	}
	if _, err := cs.Encrypt(nil, nil, []byte("x")); err == nil {
		t.Fatal("encrypted past the last nonce")
	}
}
