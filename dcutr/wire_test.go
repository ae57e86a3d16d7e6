package dcutr

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

func validMessages() []Message {
	return []Message{
		{Type: TypeSync},
		{Type: TypeConnect},
		{Type: TypeConnect, ObsAddrs: [][]byte{ma.StringCast("/ip4/1.2.3.4/tcp/4001").Bytes()}},
		{Type: TypeConnect, ObsAddrs: [][]byte{
			ma.StringCast("/ip4/1.2.3.4/tcp/4001").Bytes(),
			ma.StringCast("/ip4/1.2.3.4/udp/4001/quic-v1").Bytes(),
			ma.StringCast("/ip6/2001:db8::1/tcp/4001").Bytes(),
		}},
	}
}

func TestWireBytes(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{Message{Type: TypeSync}, "08ac02"},
		{Message{Type: TypeConnect}, "0864"},
		{Message{Type: TypeConnect, ObsAddrs: [][]byte{{0x04, 1, 2, 3, 4}}}, "0864120504" + "01020304"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.m.Append(nil)); got != tt.want {
			t.Errorf("%v: % s, want %s", tt.m.Type, got, tt.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range validMessages() {
		got, err := Parse(m.Append(nil))
		if err != nil {
			t.Fatalf("%v: %v", m.Type, err)
		}
		if !reflect.DeepEqual(normal(got), normal(m)) {
			t.Errorf("round trip %+v = %+v", m, got)
		}
	}
}

func normal(m Message) Message {
	if len(m.ObsAddrs) == 0 {
		m.ObsAddrs = nil
	}
	return m
}

// TestTruncated: every strict prefix of a valid message is refused, except
// the prefixes that happen to be complete messages themselves (ending on a
// field boundary after the type).
func TestTruncated(t *testing.T) {
	for _, m := range validMessages() {
		enc := m.Append(nil)
		boundaries := map[int]bool{}
		off := len((&Message{Type: m.Type}).Append(nil))
		boundaries[off] = true
		for _, a := range m.ObsAddrs {
			off += len((&Message{ObsAddrs: [][]byte{a}}).Append(nil)) - 2 // minus the type field 08 00
			boundaries[off] = true
		}
		for i := 0; i < len(enc); i++ {
			_, err := Parse(enc[:i])
			if boundaries[i] {
				if err != nil {
					t.Errorf("%v: prefix %d (a field boundary): %v", m.Type, i, err)
				}
				continue
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%v: prefix %d of %d accepted: err %v", m.Type, i, len(enc), err)
			}
		}
	}
}

func TestRefused(t *testing.T) {
	many := Message{Type: TypeConnect}
	for range MaxAddrs + 1 {
		many.ObsAddrs = append(many.ObsAddrs, ma.StringCast("/ip4/1.2.3.4/tcp/1").Bytes())
	}
	long := Message{Type: TypeConnect, ObsAddrs: [][]byte{bytes.Repeat([]byte{1}, MaxAddrLen+1)}}
	tests := map[string][]byte{
		"no type":       {0x12, 0x01, 0x00},
		"unknown type":  {0x08, 0x01},
		"type as bytes": {0x0a, 0x01, 0x00},
		"addrs varint":  {0x08, 0x64, 0x10, 0x01},
		"too many":      many.Append(nil),
		"long addr":     long.Append(nil),
		"empty addr":    {0x08, 0x64, 0x12, 0x00},
		"huge":          append([]byte{0x08, 0x64, 0x1a, 0x80, 0x40}, make([]byte, 8192)...),
		"type overflow": {0x08, 0x80, 0x80, 0x80, 0x80, 0x10},
	}
	for name, b := range tests {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
	// Unknown fields are skipped.
	if m, err := Parse([]byte{0x18, 0x05, 0x08, 0xac, 0x02}); err != nil || m.Type != TypeSync {
		t.Errorf("unknown field: %+v, %v", m, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, m := range validMessages() {
		f.Add(m.Append(nil))
	}
	f.Add([]byte{0x18, 0x05, 0x08, 0xac, 0x02})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Parse(in)
		if err != nil {
			return
		}
		if m.Check() != nil {
			t.Fatal("accepted a message over the caps")
		}
		enc := m.Append(nil)
		again, err := Parse(enc)
		if err != nil || !reflect.DeepEqual(normal(again), normal(m)) {
			t.Fatalf("re-parse of % x = %+v, %v; want %+v", enc, again, err, m)
		}
		if !bytes.Equal(again.Append(nil), enc) {
			t.Fatal("encoding is not a fixed point")
		}
	})
}
