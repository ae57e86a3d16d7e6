package wire

import (
	"bytes"
	"reflect"
	"testing"
)

// Each target checks that a parsed message re-encodes to bytes that parse to
// an equal value, and that our encoding is a fixed point (encode ∘ parse
// returns the same bytes), and that no accepted message breaks a limit.

func FuzzParseHop(f *testing.F) {
	for _, m := range validHops() {
		f.Add(m.Append(nil))
	}
	f.Add(append(unknownFields(), 0x08, 0x01))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseHop(in)
		if err != nil {
			return
		}
		enc := m.Append(nil)
		again, err := ParseHop(enc)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-parse of % x = %+v, %v; want %+v", enc, again, err, m)
		}
		if !bytes.Equal(again.Append(nil), enc) {
			t.Fatal("encoding is not a fixed point")
		}
		checkPeer(t, m.Peer)
		if m.Reservation != nil && (len(m.Reservation.Addrs) > MaxAddrs || len(m.Reservation.Voucher) > MaxVoucherLen) {
			t.Fatal("reservation over limits accepted")
		}
	})
}

func FuzzParseStop(f *testing.F) {
	for _, m := range validStops() {
		f.Add(m.Append(nil))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseStop(in)
		if err != nil {
			return
		}
		enc := m.Append(nil)
		again, err := ParseStop(enc)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-parse of % x = %+v, %v; want %+v", enc, again, err, m)
		}
		if !bytes.Equal(again.Append(nil), enc) {
			t.Fatal("encoding is not a fixed point")
		}
		checkPeer(t, m.Peer)
	})
}

func FuzzParseVoucher(f *testing.F) {
	for _, v := range validVouchers() {
		f.Add(v.Append(nil))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := ParseVoucher(in)
		if err != nil {
			return
		}
		enc := v.Append(nil)
		again, err := ParseVoucher(enc)
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("re-parse of % x = %+v, %v; want %+v", enc, again, err, v)
		}
		if !bytes.Equal(again.Append(nil), enc) {
			t.Fatal("encoding is not a fixed point")
		}
	})
}

func checkPeer(t *testing.T, p *Peer) {
	t.Helper()
	if p == nil {
		return
	}
	if len(p.ID) > MaxPeerIDLen || len(p.Addrs) > MaxAddrs {
		t.Fatalf("peer over limits accepted: id %d bytes, %d addrs", len(p.ID), len(p.Addrs))
	}
	for _, a := range p.Addrs {
		if len(a) > MaxAddrLen {
			t.Fatalf("%d-byte addr accepted", len(a))
		}
	}
}
