package frame

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/p2p/identity"
)

func peer(t testing.TB) identity.PeerID {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return identity.PeerIDOf(k)
}

// codec is one message type's decoder and a few valid encodings.
type codec struct {
	name  string
	parse func([]byte) (any, int, error)
	valid [][]byte
}

func codecs(t testing.TB) []codec {
	a, b := peer(t), peer(t)
	long := strings.Repeat("n", MaxNodeIDSize)
	return []codec{
		{"hello", func(b []byte) (any, int, error) { return ParseHello(b) }, [][]byte{
			Hello{Version: Version, Node: "node-1", Want: "node-2"}.Append(nil),
			Hello{Version: Version, Node: long}.Append(nil),
		}},
		{"connect", func(b []byte) (any, int, error) { return ParseConnect(b) }, [][]byte{
			Connect{Dst: a, Src: b, Node: "entry"}.Append(nil),
			Connect{Dst: b, Src: a, Node: long, Limit: &wire.Limit{Duration: 120, Data: 1 << 17}}.Append(nil),
			Connect{Dst: a, Src: b, Limit: &wire.Limit{Duration: 1<<32 - 1, Data: 1<<64 - 1}}.Append(nil),
		}},
		{"status", func(b []byte) (any, int, error) { return ParseStatus(b) }, [][]byte{
			Status{Status: wire.StatusOK}.Append(nil),
			Status{Status: wire.StatusNoReservation}.Append(nil),
		}},
		{"record", func(b []byte) (any, int, error) { return ParseRecordHeader(b) }, [][]byte{
			RecordHeader{Type: Data, Len: 1}.Append(nil),
			RecordHeader{Type: Data, Len: MaxRecordPayload}.Append(nil),
			RecordHeader{Type: Fin}.Append(nil),
			RecordHeader{Type: Reset}.Append(nil),
			RecordHeader{Type: Stop}.Append(nil),
		}},
	}
}

// reencode is Append of a decoded message.
func reencode(v any) []byte {
	switch m := v.(type) {
	case Hello:
		return m.Append(nil)
	case Connect:
		return m.Append(nil)
	case Status:
		return m.Append(nil)
	case RecordHeader:
		return m.Append(nil)
	}
	panic("unknown message")
}

func TestRoundTrip(t *testing.T) {
	for _, c := range codecs(t) {
		for _, b := range c.valid {
			v, n, err := c.parse(b)
			if err != nil || n != len(b) {
				t.Fatalf("%s: parse(%x) = %d, %v", c.name, b, n, err)
			}
			if got := reencode(v); !bytes.Equal(got, b) {
				t.Errorf("%s: re-encoded %x, want %x", c.name, got, b)
			}
			// Trailing bytes are left for the caller.
			if _, n, err := c.parse(append(bytes.Clone(b), 0xff)); err != nil || n != len(b) {
				t.Errorf("%s: with a trailing byte: n %d, err %v", c.name, n, err)
			}
		}
	}
}

// TestTruncated: every strict prefix of a valid message is EOF (empty) or
// io.ErrUnexpectedEOF.
func TestTruncated(t *testing.T) {
	for _, c := range codecs(t) {
		for _, b := range c.valid {
			for i := range len(b) {
				_, _, err := c.parse(b[:i])
				want := io.ErrUnexpectedEOF
				if i == 0 {
					want = io.EOF
				}
				if !errors.Is(err, want) {
					t.Errorf("%s: prefix %d/%d of %x: err %v, want %v", c.name, i, len(b), b, err, want)
				}
			}
		}
	}
}

func TestRejects(t *testing.T) {
	a := peer(t)
	tooLong := appendBytes([]byte{Version}, make([]byte, MaxNodeIDSize+1))
	badPeer := appendBytes([]byte{typeConnect}, []byte{1, 2, 3})
	hugeDuration := append(Connect{Dst: a, Src: a}.Append(nil)[:0:0], Connect{Dst: a, Src: a}.Append(nil)...)
	hugeDuration = append(hugeDuration[:len(hugeDuration)-1], 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0)
	tests := []struct {
		name  string
		parse func([]byte) error
		in    []byte
	}{
		{"hello node too long", func(b []byte) error { _, _, err := ParseHello(b); return err }, tooLong},
		{"connect wrong type", func(b []byte) error { _, _, err := ParseConnect(b); return err }, Status{}.Append(nil)},
		{"connect bad peer", func(b []byte) error { _, _, err := ParseConnect(b); return err }, badPeer},
		{"connect peer over cap", func(b []byte) error { _, _, err := ParseConnect(b); return err },
			appendBytes([]byte{typeConnect}, make([]byte, MaxPeerIDSize+1))},
		{"connect limit flag", func(b []byte) error { _, _, err := ParseConnect(b); return err },
			append(Connect{Dst: a, Src: a}.Append(nil)[:len(Connect{Dst: a, Src: a}.Append(nil))-1], 7)},
		{"connect duration over 32 bits", func(b []byte) error { _, _, err := ParseConnect(b); return err }, hugeDuration},
		{"status varint overflow", func(b []byte) error { _, _, err := ParseStatus(b); return err },
			[]byte{typeStatus, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}},
		{"status over int32", func(b []byte) error { _, _, err := ParseStatus(b); return err },
			Status{Status: wire.Status(1 << 31)}.Append(nil)},
		{"record type", func(b []byte) error { _, _, err := ParseRecordHeader(b); return err }, []byte{9, 0, 0}},
		{"empty data record", func(b []byte) error { _, _, err := ParseRecordHeader(b); return err }, []byte{Data, 0, 0}},
		{"reset with payload", func(b []byte) error { _, _, err := ParseRecordHeader(b); return err }, []byte{Reset, 0, 1}},
	}
	for _, tt := range tests {
		if err := tt.parse(tt.in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", tt.name, err)
		}
	}
}

// fuzzCodec: whatever parses re-encodes to bytes that parse to the same
// message, and nothing panics.
func fuzzCodec(f *testing.F, name string) {
	var c codec
	for _, cc := range codecs(f) {
		if cc.name == name {
			c = cc
		}
	}
	for _, b := range c.valid {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := c.parse(b)
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		again, m, err := c.parse(reencode(v))
		if err != nil || m != len(reencode(v)) || !reflect.DeepEqual(again, v) {
			t.Fatalf("round trip: %+v became %+v (%v)", v, again, err)
		}
	})
}

func FuzzHello(f *testing.F)        { fuzzCodec(f, "hello") }
func FuzzConnect(f *testing.F)      { fuzzCodec(f, "connect") }
func FuzzStatus(f *testing.F)       { fuzzCodec(f, "status") }
func FuzzRecordHeader(f *testing.F) { fuzzCodec(f, "record") }
