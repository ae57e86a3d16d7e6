package noise

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func samplePayloads() []payload {
	return []payload{
		{},
		{identityKey: []byte{0x08, 0x01, 0x12, 0x00}, identitySig: []byte{1, 2, 3}},
		{identityKey: []byte{}, identitySig: []byte{}},
		{identityKey: []byte("k"), identitySig: []byte("s"), muxers: []string{"/yamux/1.0.0", "/mplex/6.7.0"}},
		{identityKey: []byte("k"), certHashes: [][]byte{{0x12, 0x20, 1}, {}}, muxers: []string{""}},
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for i, p := range samplePayloads() {
		got, err := parsePayload(p.append(nil))
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("%d: got %+v, want %+v", i, got, p)
		}
	}
}

// Hand-encoded from the spec's proto definition.
func TestPayloadKnownEncoding(t *testing.T) {
	p := payload{identityKey: []byte{0xaa}, identitySig: []byte{0xbb, 0xcc}, muxers: []string{"/yamux/1.0.0"}}
	want := []byte{0x0a, 0x01, 0xaa, 0x12, 0x02, 0xbb, 0xcc, 0x22, 0x0e, 0x12, 0x0c}
	want = append(want, "/yamux/1.0.0"...)
	if got := p.append(nil); !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
}

func TestPayloadSkipsUnknownFields(t *testing.T) {
	b := payload{identityKey: []byte("k"), identitySig: []byte("s")}.append(nil)
	b = protowire.AppendTag(b, 3, protowire.VarintType) // unknown top-level
	b = protowire.AppendVarint(b, 5)
	ext := protowire.AppendTag(nil, 1025, protowire.BytesType) // experimental extension
	ext = protowire.AppendBytes(ext, []byte("x"))
	ext = protowire.AppendTag(ext, extFieldMuxers, protowire.BytesType)
	ext = protowire.AppendString(ext, "/yamux/1.0.0")
	b = protowire.AppendTag(b, fieldExtensions, protowire.BytesType)
	b = protowire.AppendBytes(b, ext)
	p, err := parsePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.identityKey) != "k" || !reflect.DeepEqual(p.muxers, []string{"/yamux/1.0.0"}) {
		t.Fatalf("got %+v", p)
	}
}

func TestPayloadRejects(t *testing.T) {
	many := func(n, size int) payload {
		p := payload{}
		for range n {
			p.muxers = append(p.muxers, string(make([]byte, size)))
		}
		return p
	}
	hashes := payload{certHashes: make([][]byte, maxCertHashes+1)}
	for name, b := range map[string][]byte{
		"repeated key":   append(payload{identityKey: []byte("a")}.append(nil), payload{identityKey: []byte("b")}.append(nil)...),
		"repeated sig":   append(payload{identitySig: []byte("a")}.append(nil), payload{identitySig: []byte("b")}.append(nil)...),
		"too many muxer": many(maxMuxers+1, 1).append(nil),
		"long muxer":     many(1, maxMuxerLen+1).append(nil),
		"too many hash":  hashes.append(nil),
		"bad tag":        {0x00},
		"bad extension":  {0x22, 0x01, 0x12},
	} {
		if _, err := parsePayload(b); !errors.Is(err, errPayload) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if _, err := parsePayload(many(maxMuxers, maxMuxerLen).append(nil)); err != nil {
		t.Errorf("payload at the caps rejected: %v", err)
	}
}

func TestPayloadTruncated(t *testing.T) {
	for _, p := range samplePayloads()[1:] {
		b := p.append(nil)
		for i := 1; i < len(b); i++ {
			got, err := parsePayload(b[:i])
			if err == nil {
				// A cut at a field boundary is a valid, shorter payload.
				if bytes.Equal(got.append(nil), b[:i]) {
					continue
				}
				t.Fatalf("prefix %d of %x parsed as %+v", i, b, got)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("prefix %d of %x: %v, want io.ErrUnexpectedEOF", i, b, err)
			}
		}
	}
}

func FuzzHandshakePayload(f *testing.F) {
	for _, p := range samplePayloads() {
		f.Add(p.append(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePayload(b)
		if err != nil {
			return
		}
		enc := p.append(nil)
		p2, err := parsePayload(enc)
		if err != nil {
			t.Fatalf("re-encoded payload rejected: %v", err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip changed payload:\n%+v\n%+v", p, p2)
		}
		if !bytes.Equal(p2.append(nil), enc) {
			t.Fatal("encoding is not stable")
		}
	})
}
