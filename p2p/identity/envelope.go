package identity

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// MaxEnvelopeSize caps a serialized envelope. Relay vouchers and peer
// records are a few hundred bytes; go-libp2p accepts signed identify records
// of up to 8 KiB.
const MaxEnvelopeSize = 8 << 10

// Envelope field numbers (record.pb.Envelope; 4 is unused).
const (
	envFieldPublicKey   protowire.Number = 1
	envFieldPayloadType protowire.Number = 2
	envFieldPayload     protowire.Number = 3
	envFieldSignature   protowire.Number = 5
)

// Envelope is an opened, verified signed envelope (RFC 0002).
type Envelope struct {
	PublicKey   PublicKey
	PayloadType []byte
	Payload     []byte
	Signature   []byte
}

// Seal signs payload under domain with key and returns the serialized
// Envelope protobuf. The domain is not transmitted; the opener must know it.
func Seal(key ed25519.PrivateKey, domain string, payloadType, payload []byte) []byte {
	e := Envelope{
		PublicKey:   Ed25519PublicKey(key.Public().(ed25519.PublicKey)),
		PayloadType: payloadType,
		Payload:     payload,
		Signature:   ed25519.Sign(key, signedBytes(domain, payloadType, payload)),
	}
	return e.append(nil)
}

// OpenEnvelope parses b and verifies its signature under domain. Fields of
// the result do not alias b. Unknown fields are skipped (proto3).
func OpenEnvelope(b []byte, domain string) (*Envelope, error) {
	if len(b) > MaxEnvelopeSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidEnvelope, len(b), MaxEnvelopeSize)
	}
	e, err := parseEnvelope(bytes.Clone(b))
	if err != nil {
		return nil, err
	}
	if !e.PublicKey.Verify(signedBytes(domain, e.PayloadType, e.Payload), e.Signature) {
		return nil, fmt.Errorf("%w: envelope (domain %q)", ErrInvalidSignature, domain)
	}
	return e, nil
}

// Signer returns the peer ID of the key that signed the envelope.
func (e *Envelope) Signer() PeerID { return IDFromPublicKey(e.PublicKey) }

func parseEnvelope(b []byte) (*Envelope, error) {
	e := &Envelope{}
	var seen [envFieldSignature + 1]bool
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %w", ErrInvalidEnvelope, protowire.ParseError(n))
		}
		b = b[n:]
		known := num <= envFieldSignature && num != 4 && typ == protowire.BytesType
		if !known {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, fmt.Errorf("%w: field %d: %w", ErrInvalidEnvelope, num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: field %d: %w", ErrInvalidEnvelope, num, protowire.ParseError(n))
		}
		if seen[num] {
			return nil, fmt.Errorf("%w: %w %d", ErrInvalidEnvelope, errDuplicateField, num)
		}
		seen[num], b = true, b[n:]
		if err := e.setField(num, v); err != nil {
			return nil, err
		}
	}
	if e.PublicKey == nil || e.Signature == nil {
		return nil, fmt.Errorf("%w: missing public key or signature", ErrInvalidEnvelope)
	}
	return e, nil
}

func (e *Envelope) setField(num protowire.Number, v []byte) error {
	switch num {
	case envFieldPublicKey:
		pk, err := UnmarshalPublicKey(v)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidEnvelope, err)
		}
		e.PublicKey = pk
	case envFieldPayloadType:
		e.PayloadType = v
	case envFieldPayload:
		e.Payload = v
	case envFieldSignature:
		e.Signature = v
	}
	return nil
}

// append encodes e in field order. Empty bytes fields are omitted, as proto3
// encoders (go-libp2p's included) do.
func (e *Envelope) append(b []byte) []byte {
	b = protowire.AppendTag(b, envFieldPublicKey, protowire.BytesType)
	b = protowire.AppendBytes(b, e.PublicKey.Marshal())
	for _, f := range [...]struct {
		num protowire.Number
		v   []byte
	}{{envFieldPayloadType, e.PayloadType}, {envFieldPayload, e.Payload}, {envFieldSignature, e.Signature}} {
		if len(f.v) > 0 {
			b = protowire.AppendTag(b, f.num, protowire.BytesType)
			b = protowire.AppendBytes(b, f.v)
		}
	}
	return b
}

// signedBytes is what the envelope signature covers:
// uvarint-prefixed domain, payload type and payload.
func signedBytes(domain string, payloadType, payload []byte) []byte {
	b := make([]byte, 0, 3*protowire.SizeVarint(uint64(MaxEnvelopeSize))+len(domain)+len(payloadType)+len(payload))
	b = protowire.AppendBytes(b, []byte(domain))
	b = protowire.AppendBytes(b, payloadType)
	return protowire.AppendBytes(b, payload)
}
