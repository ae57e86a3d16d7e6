package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestHopGolden(t *testing.T) {
	src := testPeerID(0xaa)
	tests := []struct {
		name string
		msg  HopMessage
		hex  string
	}{
		{"RESERVE request", HopMessage{Type: HopReserve}, "08 00"},
		{"NO_RESERVATION reply", HopMessage{Type: HopStatus, Status: StatusNoReservation}, "08 02 28 cc 01"},
		{"OK alone", HopMessage{Type: HopStatus, Status: StatusOK}, "08 02 28 64"},
		{
			"OK with default limit", HopMessage{Type: HopStatus, Status: StatusOK, Limit: defaultLimit},
			"08 02 22 06 08 78 10 80 80 08 28 64",
		},
		{"empty limit", HopMessage{Type: HopStatus, Status: StatusOK, Limit: &Limit{}}, "08 02 22 00 28 64"},
		{
			"CONNECT", HopMessage{Type: HopConnect, Peer: &Peer{ID: src}},
			"08 01 12 28 0a 26 00 24 08 01 12 20" + hexRepeat("aa", 32),
		},
		{
			"reservation", HopMessage{Type: HopStatus, Status: StatusOK, Reservation: &Reservation{
				Expire: 1700000000, Addrs: [][]byte{{0x04, 127, 0, 0, 1}}, Voucher: []byte{0xee},
			}},
			"08 02 1a 10 08 80 e2 cf aa 06 12 05 04 7f 00 00 01 1a 01 ee 28 64",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			if got := tt.msg.Append(nil); !bytes.Equal(got, want) {
				t.Fatalf("Append = % x\nwant     % x", got, want)
			}
			got, err := ParseHop(want)
			if err != nil || !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("ParseHop = %+v, %v; want %+v", got, err, tt.msg)
			}
		})
	}
}

func hexRepeat(h string, n int) string {
	return string(bytes.Repeat([]byte(h), n))
}

// validHops are the messages the relay sends and receives in practice.
func validHops() []HopMessage {
	id, relay := testPeerID(1), testPeerID(2)
	addrs := [][]byte{testAddr(relay), {0x04, 10, 0, 0, 1, 0x06, 0x0f, 0xa1}, {}}
	return []HopMessage{
		{Type: HopReserve},
		{Type: HopConnect, Peer: &Peer{ID: id}},
		{Type: HopConnect, Peer: &Peer{ID: id, Addrs: addrs}},
		{Type: HopStatus, Status: StatusOK, Limit: defaultLimit},
		{Type: HopStatus, Status: StatusOK, Limit: &Limit{}},
		{Type: HopStatus, Status: StatusOK, Reservation: &Reservation{
			Expire: 1<<40 + 3, Addrs: addrs, Voucher: bytes.Repeat([]byte{9}, 300),
		}, Limit: defaultLimit},
		{Type: HopStatus, Status: Status(999)},
		{Type: HopStatus, Peer: &Peer{}, Reservation: &Reservation{}},
	}
}

func TestHopRoundTrip(t *testing.T) {
	for _, m := range validHops() {
		enc := m.Append([]byte("prefix"))[len("prefix"):]
		got, err := ParseHop(enc)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %+v = %+v, %v", m, got, err)
		}
	}
}

func TestHopTruncations(t *testing.T) {
	for _, m := range validHops() {
		checkTruncations(t, m.Append(nil), func(b []byte) error { _, err := ParseHop(b); return err })
	}
}

func TestHopUnknownFieldsSkipped(t *testing.T) {
	for _, m := range validHops() {
		enc := interleave(t, m.Append(nil), unknownFields())
		got, err := ParseHop(append(unknownFields(), enc...))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("with unknown fields: %+v, %v; want %+v", got, err, m)
		}
	}
	// Unknown fields inside submessages too.
	var b []byte
	b = appendVarintField(b, 1, 1)
	b = appendBytesField(b, 2, append(appendBytesField(unknownFields(), 1, []byte{7}), unknownFields()...))
	got, err := ParseHop(b)
	if err != nil || got.Peer == nil || !bytes.Equal(got.Peer.ID, []byte{7}) {
		t.Errorf("nested unknown fields: %+v, %v", got, err)
	}
}

func TestHopLenient(t *testing.T) {
	id := testPeerID(3)
	var twoPeers []byte
	twoPeers = appendBytesField(twoPeers, 2, appendBytesField(nil, 1, id))
	twoPeers = appendBytesField(twoPeers, 2, appendBytesField(nil, 2, []byte{4}))
	tests := []struct {
		name string
		in   []byte
		want HopMessage
	}{
		{"empty is RESERVE", nil, HopMessage{}},
		{"absent type is RESERVE", []byte{0x28, 0x64}, HopMessage{Status: StatusOK}},
		{"last type wins", []byte{0x08, 0x02, 0x08, 0x01}, HopMessage{Type: HopConnect}},
		{"explicit zero status", []byte{0x08, 0x02, 0x28, 0x00}, HopMessage{Type: HopStatus}},
		{"non-minimal varint", []byte{0x08, 0x81, 0x00}, HopMessage{Type: HopConnect}},
		{"repeated peer merges", twoPeers, HopMessage{Peer: &Peer{ID: id, Addrs: [][]byte{{4}}}}},
		{"empty id is nil", []byte{0x12, 0x02, 0x0a, 0x00}, HopMessage{Peer: &Peer{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHop(tt.in)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseHop(% x) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestHopRejected(t *testing.T) {
	addrList := func(n, size int) []byte {
		var body []byte
		for range n {
			body = appendBytesField(body, 2, make([]byte, size))
		}
		return body
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"unknown type", []byte{0x08, 0x03}},
		{"huge type", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"type as bytes", []byte{0x0a, 0x00}},
		{"peer as varint", []byte{0x10, 0x01}},
		{"reservation as fixed32", []byte{0x1d, 0, 0, 0, 0}},
		{"limit as varint", []byte{0x20, 0x01}},
		{"status as bytes", []byte{0x2a, 0x00}},
		{"status overflows uint32", append([]byte{0x28}, protowire.AppendVarint(nil, 1<<32)...)},
		{"duration overflows uint32", appendBytesField(nil, 4, append([]byte{0x08}, protowire.AppendVarint(nil, 1<<32)...))},
		{"limit data as bytes", appendBytesField(nil, 4, []byte{0x12, 0x00})},
		{"field number 0", []byte{0x00, 0x00}},
		{"wire type 7", []byte{0x0f}},
		{"stray end group", []byte{0x0c}},
		{"varint too long", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"length past end", []byte{0x12, 0x05, 0x0a}},
		{"over max size", append(appendBytesField(nil, 99, make([]byte, MaxMessageSize)), 0x08, 0x00)},
		{"peer id too long", appendBytesField(nil, 2, appendBytesField(nil, 1, make([]byte, MaxPeerIDLen+1)))},
		{"too many peer addrs", appendBytesField(nil, 2, addrList(MaxAddrs+1, 1))},
		{"peer addr too long", appendBytesField(nil, 2, addrList(1, MaxAddrLen+1))},
		{"too many reservation addrs", appendBytesField(nil, 3, addrList(MaxAddrs+1, 1))},
		{"reservation addr too long", appendBytesField(nil, 3, addrList(1, MaxAddrLen+1))},
		{"voucher too long", appendBytesField(nil, 3, appendBytesField(nil, 3, make([]byte, MaxVoucherLen+1)))},
		{"too many addrs across merged peers", append(
			appendBytesField(nil, 2, addrList(MaxAddrs, 1)), appendBytesField(nil, 2, addrList(1, 1))...)},
		{"bad nested field", appendBytesField(nil, 2, []byte{0x0a, 0x05})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := ParseHop(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseHop = %+v, %v; want ErrMalformed", got, err)
			}
		})
	}
}

func TestHopLimitsAccepted(t *testing.T) {
	addrs := make([][]byte, MaxAddrs)
	for i := range addrs {
		addrs[i] = make([]byte, 40)
	}
	m := HopMessage{Type: HopConnect, Peer: &Peer{ID: make([]byte, MaxPeerIDLen), Addrs: addrs}}
	if _, err := ParseHop(m.Append(nil)); err != nil {
		t.Fatalf("message at the limits refused: %v", err)
	}
	big := HopMessage{Type: HopStatus, Reservation: &Reservation{Voucher: make([]byte, MaxVoucherLen)}}
	if _, err := ParseHop(big.Append(nil)); err != nil {
		t.Fatalf("voucher at the limit refused: %v", err)
	}
}

func TestHopDoesNotAlias(t *testing.T) {
	m := validHops()[5]
	m.Peer = &Peer{ID: testPeerID(5)}
	enc := m.Append(nil)
	got, err := ParseHop(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		enc[i] = 0xff
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatal("parsed message changed with its input buffer")
	}
}
