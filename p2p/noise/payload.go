package noise

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// NoiseHandshakePayload and NoiseExtensions field numbers.
const (
	fieldIdentityKey protowire.Number = 1
	fieldIdentitySig protowire.Number = 2
	fieldExtensions  protowire.Number = 4

	extFieldCertHashes protowire.Number = 1
	extFieldMuxers     protowire.Number = 2
)

// Caps on repeated extension fields. Real payloads carry one or two of each.
const (
	maxMuxers     = 32
	maxMuxerLen   = 256
	maxCertHashes = 16
)

var errPayload = errors.New("malformed handshake payload")

// payload is a decoded NoiseHandshakePayload. Byte fields alias the input;
// nil means the field was absent.
type payload struct {
	identityKey []byte
	identitySig []byte
	certHashes  [][]byte
	muxers      []string
}

// parsePayload decodes a NoiseHandshakePayload. Unknown fields are skipped,
// as the spec's extension registry requires; a repeated identity field is
// rejected because it would make the signed identity ambiguous.
func parsePayload(b []byte) (payload, error) {
	var p payload
	for len(b) > 0 {
		num, typ, v, n, err := consumeField(b)
		if err != nil {
			return payload{}, err
		}
		b = b[n:]
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case fieldIdentityKey:
			err = setOnce(&p.identityKey, v, "identity_key")
		case fieldIdentitySig:
			err = setOnce(&p.identitySig, v, "identity_sig")
		case fieldExtensions:
			err = p.parseExtensions(v)
		}
		if err != nil {
			return payload{}, err
		}
	}
	return p, nil
}

func setOnce(dst *[]byte, v []byte, name string) error {
	if *dst != nil {
		return fmt.Errorf("%w: repeated %s", errPayload, name)
	}
	*dst = v
	return nil
}

// parseExtensions merges a NoiseExtensions message into p (repeated fields
// of a repeated message concatenate, as protobuf merging does).
func (p *payload) parseExtensions(b []byte) error {
	for len(b) > 0 {
		num, typ, v, n, err := consumeField(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch {
		case typ != protowire.BytesType:
		case num == extFieldCertHashes:
			if len(p.certHashes) == maxCertHashes {
				return fmt.Errorf("%w: more than %d certhashes", errPayload, maxCertHashes)
			}
			p.certHashes = append(p.certHashes, v)
		case num == extFieldMuxers:
			if len(p.muxers) == maxMuxers || len(v) > maxMuxerLen {
				return fmt.Errorf("%w: more than %d muxers or one over %d bytes", errPayload, maxMuxers, maxMuxerLen)
			}
			p.muxers = append(p.muxers, string(v))
		}
	}
	return nil
}

// consumeField reads one field; v is its value when typ is BytesType.
// Truncation reports io.ErrUnexpectedEOF.
func consumeField(b []byte) (num protowire.Number, typ protowire.Type, v []byte, n int, err error) {
	num, typ, tn := protowire.ConsumeTag(b)
	if tn < 0 {
		return 0, 0, nil, 0, fmt.Errorf("%w: %w", errPayload, protowire.ParseError(tn))
	}
	var vn int
	if typ == protowire.BytesType {
		v, vn = protowire.ConsumeBytes(b[tn:])
	} else {
		vn = protowire.ConsumeFieldValue(num, typ, b[tn:])
	}
	if vn < 0 {
		return 0, 0, nil, 0, fmt.Errorf("%w: field %d: %w", errPayload, num, protowire.ParseError(vn))
	}
	return num, typ, v, tn + vn, nil
}

// append encodes p in field order; absent (nil) fields are omitted, and the
// extensions message only when it has content.
func (p payload) append(b []byte) []byte {
	if p.identityKey != nil {
		b = appendBytesField(b, fieldIdentityKey, p.identityKey)
	}
	if p.identitySig != nil {
		b = appendBytesField(b, fieldIdentitySig, p.identitySig)
	}
	if len(p.certHashes) == 0 && len(p.muxers) == 0 {
		return b
	}
	b = protowire.AppendTag(b, fieldExtensions, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(p.extensionsSize()))
	for _, h := range p.certHashes {
		b = appendBytesField(b, extFieldCertHashes, h)
	}
	for _, m := range p.muxers {
		b = protowire.AppendTag(b, extFieldMuxers, protowire.BytesType)
		b = protowire.AppendString(b, m)
	}
	return b
}

func (p payload) extensionsSize() int {
	n := 0
	for _, h := range p.certHashes {
		n += protowire.SizeTag(extFieldCertHashes) + protowire.SizeBytes(len(h))
	}
	for _, m := range p.muxers {
		n += protowire.SizeTag(extFieldMuxers) + protowire.SizeBytes(len(m))
	}
	return n
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}
