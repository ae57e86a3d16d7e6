package identity

import (
	"bytes"
	"testing"
)

func FuzzUnmarshalPublicKey(f *testing.F) {
	for _, h := range []string{specEd25519Pub, specSecp256k1Pub, specECDSAPub, specRSAPub} {
		f.Add(unhex(h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := UnmarshalPublicKey(b)
		if err != nil {
			return
		}
		enc := pk.Marshal()
		pk2, err := UnmarshalPublicKey(enc)
		if err != nil {
			t.Fatalf("re-marshalled key %x rejected: %v", enc, err)
		}
		if pk2.Type() != pk.Type() || !bytes.Equal(pk2.Marshal(), enc) {
			t.Fatalf("round trip changed key: %x -> %x", enc, pk2.Marshal())
		}
		if pk.Verify([]byte("x"), b) {
			t.Fatal("input accepted as its own signature")
		}
	})
}

func FuzzIDFromBytes(f *testing.F) {
	for _, s := range []string{specEd25519ID, specSecp256k1ID, specECDSAID, specExampleQm} {
		id, err := Decode(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(id.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := IDFromBytes(b)
		if err != nil {
			return
		}
		if !bytes.Equal(id.Bytes(), b) {
			t.Fatal("bytes changed")
		}
		back, err := Decode(id.String())
		if err != nil || back != id {
			t.Fatalf("text round trip: %q, %v", back, err)
		}
		if pk, err := id.PublicKey(); err == nil && IDFromPublicKey(pk) != id {
			t.Fatal("embedded key derives another ID")
		}
	})
}

func FuzzOpenEnvelope(f *testing.F) {
	k, err := GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(Seal(k, testDomain, testPayloadType, []byte("payload")))
	f.Add(Seal(k, testDomain, nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := OpenEnvelope(b, testDomain)
		if err != nil {
			return
		}
		enc := e.append(nil)
		e2, err := OpenEnvelope(enc, testDomain)
		if err != nil {
			t.Fatalf("re-encoded envelope rejected: %v", err)
		}
		if !bytes.Equal(e2.PublicKey.Marshal(), e.PublicKey.Marshal()) || !bytes.Equal(e2.PayloadType, e.PayloadType) ||
			!bytes.Equal(e2.Payload, e.Payload) || !bytes.Equal(e2.Signature, e.Signature) {
			t.Fatal("round trip changed the envelope")
		}
	})
}

func FuzzUnmarshalPrivateKey(f *testing.F) {
	f.Add(unhex(specEd25519Priv))
	k, err := GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(appendKeyMessage(nil, KeyEd25519, append(append([]byte(nil), k...), k[32:]...)))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := UnmarshalPrivateKey(b)
		if err != nil {
			return
		}
		k2, err := UnmarshalPrivateKey(MarshalPrivateKey(k))
		if err != nil || !k2.Equal(k) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
