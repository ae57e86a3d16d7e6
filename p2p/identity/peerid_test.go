package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
	"github.com/multiformats/go-multibase"
)

func TestIDFromPublicKeyVectors(t *testing.T) {
	for _, tc := range []struct {
		name, key, id string
		identity      bool
	}{
		{"ed25519", specEd25519Pub, specEd25519ID, true},
		{"secp256k1", specSecp256k1Pub, specSecp256k1ID, true},
		{"ecdsa", specECDSAPub, specECDSAID, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pk, err := UnmarshalPublicKey(unhex(tc.key))
			if err != nil {
				t.Fatal(err)
			}
			id := IDFromPublicKey(pk)
			if id.String() != tc.id {
				t.Fatalf("String %s, want %s", id, tc.id)
			}
			// The same bytes built by hand from the spec's rule.
			var want []byte
			if raw := unhex(tc.key); tc.identity {
				want = append([]byte{0x00, byte(len(raw))}, raw...)
			} else {
				h := sha256.Sum256(raw)
				want = append([]byte{0x12, 0x20}, h[:]...)
			}
			if !bytes.Equal(id.Bytes(), want) {
				t.Fatalf("bytes %x, want %x", id.Bytes(), want)
			}
			back, err := Decode(tc.id)
			if err != nil || back != id {
				t.Fatalf("Decode: %q, %v", back, err)
			}
		})
	}
}

func TestEd25519PeerIDLayout(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	id := PeerIDOf(k)
	want := append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, k.Public().(ed25519.PublicKey)...)
	if !bytes.Equal(id.Bytes(), want) {
		t.Fatalf("got %x, want %x", id.Bytes(), want)
	}
	if !strings.HasPrefix(id.String(), "12D3KooW") {
		t.Fatalf("String %s lacks the usual prefix", id)
	}
	pk, err := id.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if IDFromPublicKey(pk) != id {
		t.Fatal("PublicKey does not round-trip")
	}
}

func TestDecodeSpecExamples(t *testing.T) {
	cid, err := Decode(specExampleCID)
	if err != nil {
		t.Fatal(err)
	}
	qm, err := Decode(specExampleQm)
	if err != nil {
		t.Fatal(err)
	}
	if cid != qm || qm.String() != specExampleQm {
		t.Fatalf("CID %s and base58 %s forms differ", cid, qm)
	}
	if _, err := qm.PublicKey(); !errors.Is(err, ErrNoPublicKey) {
		t.Fatalf("PublicKey of a hashed ID: %v", err)
	}
	ed, err := Decode(specExampleEd25519)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ed.PublicKey()
	if err != nil || pk.Type() != KeyEd25519 {
		t.Fatalf("PublicKey: %v, %v", pk, err)
	}
}

func TestDecodeCIDInOtherBases(t *testing.T) {
	id, err := Decode(specExampleEd25519)
	if err != nil {
		t.Fatal(err)
	}
	cid := append([]byte{0x01, 0x72}, id.Bytes()...)
	for _, enc := range []multibase.Encoding{multibase.Base32, multibase.Base36, multibase.Base58BTC, multibase.Base16, multibase.Base64url} {
		s, err := multibase.Encode(enc, cid)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(s)
		if err != nil || got != id {
			t.Errorf("%s: %q, %v", s, got, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	id, _ := Decode(specExampleEd25519)
	mb := func(b []byte) string {
		s, err := multibase.Encode(multibase.Base32, b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for name, s := range map[string]string{
		"empty":            "",
		"too long":         "1" + strings.Repeat("2", maxIDText),
		"bad base58":       "Qm0OIl",
		"bad multibase":    "!abc",
		"cid v0 prefix":    mb(append([]byte{0x00, 0x72}, id.Bytes()...)),
		"cid wrong codec":  mb(append([]byte{0x01, 0x55}, id.Bytes()...)),
		"cid truncated":    mb([]byte{0x01}),
		"cid bad hash":     mb([]byte{0x01, 0x72, 0x12, 0x20, 0x01}),
		"base58 not an id": base58.Encode([]byte{0x11, 0x14, 1, 2, 3}),
	} {
		if got, err := Decode(s); !errors.Is(err, ErrInvalidPeerID) {
			t.Errorf("%s: Decode(%q) = %q, %v", name, s, got, err)
		}
	}
}

func TestIDFromBytes(t *testing.T) {
	ed := unhex(specEd25519Pub)
	edID := append([]byte{0x00, byte(len(ed))}, ed...)
	sha := append([]byte{0x12, 0x20}, make([]byte, 32)...)
	// Fields reversed: parses, but is not the canonical encoding.
	reordered := append(append([]byte{0x00, byte(len(ed))}, ed[2:]...), ed[:2]...)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"identity ed25519", edID, true},
		{"sha256", sha, true},
		{"empty", nil, false},
		{"one byte", []byte{0x00}, false},
		{"identity length too big", append([]byte{0x00, byte(len(ed) + 1)}, ed...), false},
		{"identity length too small", append([]byte{0x00, byte(len(ed) - 1)}, ed...), false},
		{"identity over 42", append([]byte{0x00, 43}, make([]byte, 43)...), false},
		{"identity not a key", []byte{0x00, 0x03, 1, 2, 3}, false},
		{"identity non-canonical key", reordered, false},
		{"sha256 short", sha[:33], false},
		{"sha256 long", append(sha, 0), false},
		{"sha256 wrong length byte", append([]byte{0x12, 0x1f}, make([]byte, 32)...), false},
		{"sha512", append([]byte{0x13, 0x40}, make([]byte, 64)...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := IDFromBytes(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("IDFromBytes(%x) = %q, %v", tc.in, id, err)
			}
			if err != nil && !errors.Is(err, ErrInvalidPeerID) {
				t.Fatalf("error %v does not wrap ErrInvalidPeerID", err)
			}
			if tc.ok && !bytes.Equal(id.Bytes(), tc.in) {
				t.Fatalf("bytes changed")
			}
		})
	}
}

func TestPeerIDTextRoundTrip(t *testing.T) {
	var zero PeerID
	if zero.String() != "" {
		t.Fatal("zero PeerID must print as empty")
	}
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	id := PeerIDOf(k)
	txt, err := id.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back PeerID
	if err := back.UnmarshalText(txt); err != nil || back != id {
		t.Fatalf("UnmarshalText: %q, %v", back, err)
	}
	if err := back.UnmarshalText([]byte("nope")); err == nil {
		t.Fatal("UnmarshalText accepted garbage")
	}
}
