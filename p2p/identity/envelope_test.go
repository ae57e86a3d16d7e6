package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

const testDomain = "libp2p-relay-rsvp"

var testPayloadType = []byte{0x03, 0x02}

func TestSealOpen(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b := Seal(k, testDomain, testPayloadType, []byte("payload"))
	e, err := OpenEnvelope(b, testDomain)
	if err != nil {
		t.Fatal(err)
	}
	if e.Signer() != PeerIDOf(k) || !bytes.Equal(e.PayloadType, testPayloadType) || string(e.Payload) != "payload" {
		t.Fatalf("unexpected envelope %+v", e)
	}
	// Layout check: public key, payload type, payload, signature, in order.
	want := []protowire.Number{1, 2, 3, 5}
	for i := 0; len(b) > 0; i++ {
		num, _, n := protowire.ConsumeField(b)
		if n < 0 || num != want[i] {
			t.Fatalf("field %d is %d", i, num)
		}
		b = b[n:]
	}
}

// The signed buffer is uvarint-prefixed domain, type and payload (RFC 0002).
func TestEnvelopeSignedBytes(t *testing.T) {
	k, _ := GenerateKey()
	b := Seal(k, testDomain, testPayloadType, []byte("xy"))
	e, err := OpenEnvelope(b, testDomain)
	if err != nil {
		t.Fatal(err)
	}
	msg := append([]byte{17}, testDomain...)
	msg = append(msg, 2, 0x03, 0x02, 2, 'x', 'y')
	if !ed25519.Verify(k.Public().(ed25519.PublicKey), msg, e.Signature) {
		t.Fatal("signature does not cover the RFC 0002 buffer")
	}
}

func TestOpenEnvelopeRejects(t *testing.T) {
	k, _ := GenerateKey()
	other, _ := GenerateKey()
	good := Seal(k, testDomain, testPayloadType, []byte("payload"))
	e, _ := OpenEnvelope(good, testDomain)
	tamper := func(f func(e *Envelope)) []byte {
		c := *e
		c.PayloadType = bytes.Clone(e.PayloadType)
		c.Payload = bytes.Clone(e.Payload)
		c.Signature = bytes.Clone(e.Signature)
		f(&c)
		return c.append(nil)
	}
	for _, tc := range []struct {
		name   string
		in     []byte
		domain string
		want   error
	}{
		{"wrong domain", good, "libp2p-peer-record", ErrInvalidSignature},
		{"payload changed", tamper(func(e *Envelope) { e.Payload[0] ^= 1 }), testDomain, ErrInvalidSignature},
		{"type changed", tamper(func(e *Envelope) { e.PayloadType = []byte{0x03, 0x01} }), testDomain, ErrInvalidSignature},
		{"signature changed", tamper(func(e *Envelope) { e.Signature[5] ^= 1 }), testDomain, ErrInvalidSignature},
		{"other key", tamper(func(e *Envelope) { e.PublicKey = Ed25519PublicKey(other.Public().(ed25519.PublicKey)) }), testDomain, ErrInvalidSignature},
		{"no signature", tamper(func(e *Envelope) { e.Signature = nil }), testDomain, ErrInvalidEnvelope},
		{"bad key", append([]byte{0x0a, 0x02, 0x08, 0x01}, good...), testDomain, ErrInvalidEnvelope},
		{"duplicate field", append(good, 0x1a, 0x01, 'x'), testDomain, ErrInvalidEnvelope},
		{"oversized", make([]byte, MaxEnvelopeSize+1), testDomain, ErrInvalidEnvelope},
		{"empty", nil, testDomain, ErrInvalidEnvelope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := OpenEnvelope(tc.in, tc.domain); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOpenEnvelopeSkipsUnknownFields(t *testing.T) {
	k, _ := GenerateKey()
	b := Seal(k, testDomain, testPayloadType, []byte("p"))
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("unused"))
	b = protowire.AppendTag(b, 9, protowire.VarintType)
	b = protowire.AppendVarint(b, 7)
	if _, err := OpenEnvelope(b, testDomain); err != nil {
		t.Fatal(err)
	}
}

func TestOpenEnvelopeTruncated(t *testing.T) {
	k, _ := GenerateKey()
	b := Seal(k, testDomain, testPayloadType, []byte("payload"))
	for i := range len(b) {
		if _, err := OpenEnvelope(b[:i], testDomain); err == nil {
			t.Fatalf("prefix %d accepted", i)
		}
	}
}

func TestOpenEnvelopeDoesNotAlias(t *testing.T) {
	k, _ := GenerateKey()
	b := Seal(k, testDomain, testPayloadType, []byte("payload"))
	e, err := OpenEnvelope(b, testDomain)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if string(e.Payload) != "payload" {
		t.Fatal("envelope aliases its input")
	}
}
