package identity

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"io"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

func TestSpecPublicKeyVectorsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		hex  string
		typ  KeyType
	}{
		{"ed25519", specEd25519Pub, KeyEd25519},
		{"secp256k1", specSecp256k1Pub, KeySecp256k1},
		{"ecdsa", specECDSAPub, KeyECDSA},
		{"rsa", specRSAPub, KeyRSA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(tc.hex)
			pk, err := UnmarshalPublicKey(b)
			if err != nil {
				t.Fatal(err)
			}
			if pk.Type() != tc.typ {
				t.Fatalf("type %v, want %v", pk.Type(), tc.typ)
			}
			if got := pk.Marshal(); !bytes.Equal(got, b) {
				t.Fatalf("Marshal is not canonical:\n got %x\nwant %x", got, b)
			}
		})
	}
}

// The spec asks implementations to check that each vector's public key is
// the one derived from its private key.
func TestSpecPrivateVectorsDerivePublic(t *testing.T) {
	pubData := func(h string) []byte {
		m, err := parseKeyMessage(unhex(h))
		if err != nil {
			t.Fatal(err)
		}
		return m.data
	}
	t.Run("ed25519", func(t *testing.T) {
		k, err := UnmarshalPrivateKey(unhex(specEd25519Priv))
		if err != nil {
			t.Fatal(err)
		}
		if got := Ed25519PublicKey(k.Public().(ed25519.PublicKey)).Marshal(); !bytes.Equal(got, unhex(specEd25519Pub)) {
			t.Fatalf("got %x", got)
		}
	})
	t.Run("secp256k1", func(t *testing.T) {
		priv := secp256k1.PrivKeyFromBytes(pubData(specSecp256k1Priv))
		if got := priv.PubKey().SerializeCompressed(); !bytes.Equal(got, pubData(specSecp256k1Pub)) {
			t.Fatalf("got %x", got)
		}
	})
	t.Run("ecdsa", func(t *testing.T) {
		priv, err := x509.ParseECPrivateKey(pubData(specECDSAPriv))
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(der, pubData(specECDSAPub)) {
			t.Fatalf("got %x", der)
		}
	})
}

func TestVerifyAllKeyTypes(t *testing.T) {
	msg := []byte("noise-libp2p-static-key:0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name string
		gen  func(t *testing.T) (pub []byte, sign func([]byte) []byte)
	}{
		{"ed25519", genEd25519},
		{"rsa2048", genRSA},
		{"ecdsa-p256", genECDSA},
		{"secp256k1", genSecp256k1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pubMsg, sign := tc.gen(t)
			pk, err := UnmarshalPublicKey(pubMsg)
			if err != nil {
				t.Fatal(err)
			}
			sig := sign(msg)
			if !pk.Verify(msg, sig) {
				t.Fatal("valid signature rejected")
			}
			bad := append([]byte(nil), msg...)
			bad[0] ^= 1
			if pk.Verify(bad, sig) {
				t.Fatal("signature over other data accepted")
			}
			badSig := append([]byte(nil), sig...)
			badSig[len(badSig)/2] ^= 1
			if pk.Verify(msg, badSig) || pk.Verify(msg, nil) || pk.Verify(msg, sig[:len(sig)-1]) {
				t.Fatal("corrupt signature accepted")
			}
		})
	}
}

func genEd25519(t *testing.T) ([]byte, func([]byte) []byte) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return Ed25519PublicKey(k.Public().(ed25519.PublicKey)).Marshal(), func(m []byte) []byte { return ed25519.Sign(k, m) }
}

func genRSA(t *testing.T) ([]byte, func([]byte) []byte) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pkixKeyMessage(t, KeyRSA, &k.PublicKey), func(m []byte) []byte {
		h := sha256.Sum256(m)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

func genECDSA(t *testing.T) ([]byte, func([]byte) []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pkixKeyMessage(t, KeyECDSA, &k.PublicKey), func(m []byte) []byte {
		h := sha256.Sum256(m)
		sig, err := ecdsa.SignASN1(rand.Reader, k, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

func genSecp256k1(t *testing.T) ([]byte, func([]byte) []byte) {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return appendKeyMessage(nil, KeySecp256k1, k.PubKey().SerializeCompressed()), func(m []byte) []byte {
		h := sha256.Sum256(m)
		return secpecdsa.Sign(k, h[:]).Serialize()
	}
}

func pkixKeyMessage(t *testing.T, typ KeyType, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return appendKeyMessage(nil, typ, der)
}

func TestUnmarshalPublicKeyRejects(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub := unhex(specEd25519Pub)[4:]
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrInvalidKey},
		{"oversized", make([]byte, MaxPublicKeySize+1), ErrInvalidKey},
		{"type only", []byte{0x08, 0x01}, ErrInvalidKey},
		{"data only", append([]byte{0x12, 0x20}, edPub...), ErrInvalidKey},
		{"unknown type", appendKeyMessage(nil, 4, edPub), ErrUnsupportedKey},
		{"ed25519 short", appendKeyMessage(nil, KeyEd25519, edPub[:31]), ErrInvalidKey},
		{"ed25519 long", appendKeyMessage(nil, KeyEd25519, append(edPub, 0)), ErrInvalidKey},
		{"duplicate type", append([]byte{0x08, 0x01}, unhex(specEd25519Pub)...), ErrInvalidKey},
		{"extra field", append(unhex(specEd25519Pub), 0x18, 0x01), ErrInvalidKey},
		{"wrong wire type", []byte{0x0a, 0x01, 0x01, 0x12, 0x00}, ErrInvalidKey},
		{"rsa 1024", pkixKeyMessage(t, KeyRSA, &small.PublicKey), ErrInvalidKey},
		{"rsa garbage", appendKeyMessage(nil, KeyRSA, []byte{0x30, 0x03, 0x02, 0x01, 0x01}), ErrInvalidKey},
		{"ecdsa key as rsa", pkixKeyMessage(t, KeyRSA, &ecKey.PublicKey), ErrInvalidKey},
		{"rsa key as ecdsa", pkixKeyMessage(t, KeyECDSA, &small.PublicKey), ErrInvalidKey},
		{"secp256k1 bad point", appendKeyMessage(nil, KeySecp256k1, append([]byte{0x02}, make([]byte, 32)...)), ErrInvalidKey},
		{"secp256k1 bad prefix", appendKeyMessage(nil, KeySecp256k1, append([]byte{0x05}, edPub...)), ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pk, err := UnmarshalPublicKey(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, %v; want %v", pk, err, tc.want)
			}
		})
	}
}

func TestUnmarshalPublicKeyTruncated(t *testing.T) {
	for _, h := range []string{specEd25519Pub, specSecp256k1Pub, specECDSAPub, specRSAPub} {
		b := unhex(h)
		for i := range len(b) {
			_, err := UnmarshalPublicKey(b[:i])
			if err == nil {
				t.Fatalf("prefix %d of %x accepted", i, b)
			}
			// Cut inside a field the error is the truncation itself.
			if i > 0 && i != 2 && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("prefix %d of type %x: %v, want io.ErrUnexpectedEOF", i, b[:2], err)
			}
		}
	}
}

func TestSecp256k1UncompressedIsCanonicalised(t *testing.T) {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pk, err := UnmarshalPublicKey(appendKeyMessage(nil, KeySecp256k1, k.PubKey().SerializeUncompressed()))
	if err != nil {
		t.Fatal(err)
	}
	want := appendKeyMessage(nil, KeySecp256k1, k.PubKey().SerializeCompressed())
	if !bytes.Equal(pk.Marshal(), want) {
		t.Fatalf("Marshal %x, want compressed %x", pk.Marshal(), want)
	}
}

func TestKeyTypeString(t *testing.T) {
	for typ, want := range map[KeyType]string{KeyRSA: "RSA", KeyEd25519: "Ed25519", KeySecp256k1: "Secp256k1", KeyECDSA: "ECDSA", 9: "KeyType(9)"} {
		if got := typ.String(); got != want {
			t.Errorf("%d: %q, want %q", int32(typ), got, want)
		}
	}
}
