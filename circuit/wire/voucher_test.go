package wire

import (
	"errors"
	"reflect"
	"testing"
)

func TestVoucherGolden(t *testing.T) {
	v := Voucher{Relay: testPeerID(0x11), Peer: testPeerID(0x22), Expiration: 1700000000}
	want := unhex(t, "0a 26 00 24 08 01 12 20"+hexRepeat("11", 32)+
		"12 26 00 24 08 01 12 20"+hexRepeat("22", 32)+"18 80 e2 cf aa 06")
	if got := v.Append(nil); string(got) != string(want) {
		t.Fatalf("Append = % x\nwant     % x", got, want)
	}
	got, err := ParseVoucher(want)
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("ParseVoucher = %+v, %v", got, err)
	}
	// All three fields are written even when zero, like go-libp2p.
	if got := (Voucher{}).Append(nil); string(got) != "\x0a\x00\x12\x00\x18\x00" {
		t.Fatalf("zero voucher = % x", got)
	}
}

func validVouchers() []Voucher {
	return []Voucher{
		{Relay: testPeerID(1), Peer: testPeerID(2), Expiration: 1 << 33},
		{},
		{Relay: make([]byte, MaxPeerIDLen), Peer: []byte{1}, Expiration: 1<<64 - 1},
	}
}

func TestVoucherRoundTripAndTruncations(t *testing.T) {
	for _, v := range validVouchers() {
		enc := v.Append(nil)
		got, err := ParseVoucher(enc)
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("round trip of %+v = %+v, %v", v, got, err)
		}
		checkTruncations(t, enc, func(b []byte) error { _, err := ParseVoucher(b); return err })
		got, err = ParseVoucher(interleave(t, enc, unknownFields()))
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("with unknown fields: %+v, %v", got, err)
		}
	}
}

func TestVoucherRejected(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"relay as varint", []byte{0x08, 0x00}},
		{"peer as varint", []byte{0x10, 0x00}},
		{"expiration as bytes", []byte{0x1a, 0x00}},
		{"relay too long", appendBytesField(nil, 1, make([]byte, MaxPeerIDLen+1))},
		{"peer too long", appendBytesField(nil, 2, make([]byte, MaxPeerIDLen+1))},
		{"over max size", appendBytesField(nil, 99, make([]byte, MaxVoucherLen))},
		{"truncated", []byte{0x0a, 0x26, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := ParseVoucher(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseVoucher = %+v, %v; want ErrMalformed", got, err)
			}
		})
	}
}
