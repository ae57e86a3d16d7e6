package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"testing"
)

func TestPrivateKeyRoundTrip(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b := MarshalPrivateKey(k)
	if len(b) != 68 || !bytes.Equal(b[:4], []byte{0x08, 0x01, 0x12, 0x40}) {
		t.Fatalf("unexpected encoding %x", b)
	}
	back, err := UnmarshalPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(back) {
		t.Fatal("key changed")
	}
}

func TestSpecPrivateKeyVector(t *testing.T) {
	b := unhex(specEd25519Priv)
	k, err := UnmarshalPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(MarshalPrivateKey(k), b) {
		t.Fatal("spec vector does not round-trip")
	}
	if PeerIDOf(k).String() != specEd25519ID {
		t.Fatalf("peer ID %s, want %s", PeerIDOf(k), specEd25519ID)
	}
}

func TestUnmarshalPrivateKeyCases(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public().(ed25519.PublicKey)
	other, _ := GenerateKey()
	legacy := append(append([]byte(nil), k...), pub...)
	badLegacy := append(append([]byte(nil), k...), other.Public().(ed25519.PublicKey)...)
	mismatched := append(append([]byte(nil), k.Seed()...), other.Public().(ed25519.PublicKey)...)
	for _, tc := range []struct {
		name string
		in   []byte
		want error // nil = accepted
	}{
		{"legacy 96 bytes", appendKeyMessage(nil, KeyEd25519, legacy), nil},
		{"legacy with differing copies", appendKeyMessage(nil, KeyEd25519, badLegacy), ErrInvalidKey},
		{"public half mismatch", appendKeyMessage(nil, KeyEd25519, mismatched), ErrInvalidKey},
		{"seed only", appendKeyMessage(nil, KeyEd25519, k.Seed()), ErrInvalidKey},
		{"rsa", unhex(specRSAPub), ErrUnsupportedKey},
		{"secp256k1", unhex(specSecp256k1Priv), ErrUnsupportedKey},
		{"garbage", []byte("not a key at all"), ErrInvalidKey},
		{"oversized", make([]byte, maxPrivateKeySize+1), ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UnmarshalPrivateKey(tc.in)
			if tc.want == nil {
				if err != nil || !got.Equal(k) {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUnmarshalPrivateKeyTruncated(t *testing.T) {
	b := unhex(specEd25519Priv)
	for i := range len(b) {
		_, err := UnmarshalPrivateKey(b[:i])
		if err == nil {
			t.Fatalf("prefix %d accepted", i)
		}
		if i > 0 && i != 2 && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("prefix %d: %v, want io.ErrUnexpectedEOF", i, err)
		}
	}
}
