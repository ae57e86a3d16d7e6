package noise

import (
	"bytes"
	"crypto/rand"
	mrand "math/rand/v2"
	"testing"

	"github.com/flynn/noise"
)

// TestDH25519MatchesFlynn checks dh25519 against flynn's DH25519, the
// reference: same keys from the same random bytes, same shared secrets
// through every path (ephemeral, static and unknown private key), and the
// same refusal of a low-order peer point.
func TestDH25519MatchesFlynn(t *testing.T) {
	seed := mrand.New(mrand.NewChaCha8([32]byte{1}))
	rng := func() *mrand.ChaCha8 {
		var s [32]byte
		for i := range s {
			s[i] = byte(seed.Uint32())
		}
		return mrand.NewChaCha8(s)
	}
	for i := range 200 {
		r1, r2 := rng(), rng()
		*r2 = *r1
		ref, err := noise.DH25519.GenerateKeypair(r1)
		if err != nil {
			t.Fatal(err)
		}
		staticKey, err := newX25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		d := &dh25519{static: staticKey}
		got, err := d.GenerateKeypair(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Private, ref.Private) || !bytes.Equal(got.Public, ref.Public) {
			t.Fatalf("key %d differs from flynn's", i)
		}
		peer, _ := noise.DH25519.GenerateKeypair(rand.Reader)
		unknown, _ := noise.DH25519.GenerateKeypair(rand.Reader)
		for name, priv := range map[string][]byte{"ephemeral": got.Private, "static": staticKey.Bytes(), "unknown": unknown.Private} {
			want, err := noise.DH25519.DH(priv, peer.Public)
			if err != nil {
				t.Fatal(err)
			}
			out, err := d.DH(priv, peer.Public)
			if err != nil || !bytes.Equal(out, want) {
				t.Fatalf("key %d, %s DH = %x, %v; want %x", i, name, out, err, want)
			}
		}
	}
	d := &dh25519{}
	k, _ := d.GenerateKeypair(rand.Reader)
	lowOrder := make([]byte, 32) // the point 0: every DH with it is all zeros
	if _, err := noise.DH25519.DH(k.Private, lowOrder); err == nil {
		t.Fatal("flynn accepted a low-order point; the reference changed")
	}
	if _, err := d.DH(k.Private, lowOrder); err == nil {
		t.Fatal("dh25519 accepted a low-order point")
	}
	if _, err := d.DH(k.Private, []byte{1, 2, 3}); err == nil {
		t.Fatal("dh25519 accepted a 3-byte point")
	}
}

func BenchmarkHandshakeDH(b *testing.B) {
	peer, _ := noise.DH25519.GenerateKeypair(rand.Reader)
	static, _ := newX25519Key(rand.Reader)
	b.Run("flynn", func(b *testing.B) {
		s, _ := noise.DH25519.GenerateKeypair(rand.Reader)
		for range b.N {
			e, _ := noise.DH25519.GenerateKeypair(rand.Reader)
			noise.DH25519.DH(e.Private, peer.Public)
			noise.DH25519.DH(s.Private, peer.Public)
			noise.DH25519.DH(e.Private, peer.Public)
		}
	})
	b.Run("ours", func(b *testing.B) {
		for range b.N {
			d := &dh25519{static: static}
			e, _ := d.GenerateKeypair(rand.Reader)
			d.DH(e.Private, peer.Public)
			d.DH(static.Bytes(), peer.Public)
			d.DH(e.Private, peer.Public)
		}
	})
}
