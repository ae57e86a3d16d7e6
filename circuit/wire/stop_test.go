package wire

import (
	"errors"
	"reflect"
	"testing"
)

func TestStopGolden(t *testing.T) {
	src := testPeerID(0xbb)
	tests := []struct {
		name string
		msg  StopMessage
		hex  string
	}{
		{
			"CONNECT", StopMessage{Type: StopConnect, Peer: &Peer{ID: src}, Limit: defaultLimit},
			"08 00 12 28 0a 26 00 24 08 01 12 20" + hexRepeat("bb", 32) + "1a 06 08 78 10 80 80 08",
		},
		{"STATUS OK", StopMessage{Type: StopStatus, Status: StatusOK}, "08 01 20 64"},
		{"CONNECTION_FAILED", StopMessage{Type: StopStatus, Status: StatusConnectionFailed}, "08 01 20 cb 01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			if got := tt.msg.Append(nil); string(got) != string(want) {
				t.Fatalf("Append = % x\nwant     % x", got, want)
			}
			got, err := ParseStop(want)
			if err != nil || !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("ParseStop = %+v, %v; want %+v", got, err, tt.msg)
			}
		})
	}
}

func validStops() []StopMessage {
	return []StopMessage{
		{Type: StopConnect, Peer: &Peer{ID: testPeerID(1)}, Limit: defaultLimit},
		{Type: StopConnect, Peer: &Peer{ID: testPeerID(1), Addrs: [][]byte{testAddr(testPeerID(2))}}},
		{Type: StopStatus, Status: StatusOK},
		{Type: StopStatus, Status: Status(12345)},
		{Type: StopConnect, Limit: &Limit{Duration: 1}},
	}
}

func TestStopRoundTrip(t *testing.T) {
	for _, m := range validStops() {
		got, err := ParseStop(m.Append(nil))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %+v = %+v, %v", m, got, err)
		}
	}
}

func TestStopTruncations(t *testing.T) {
	for _, m := range validStops() {
		checkTruncations(t, m.Append(nil), func(b []byte) error { _, err := ParseStop(b); return err })
	}
}

func TestStopUnknownFieldsSkipped(t *testing.T) {
	for _, m := range validStops() {
		got, err := ParseStop(interleave(t, m.Append(nil), unknownFields()))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("with unknown fields: %+v, %v; want %+v", got, err, m)
		}
	}
	// Field 5 is the hop status number; on stop it is unknown and skipped.
	if got, err := ParseStop([]byte{0x08, 0x01, 0x28, 0x64}); err != nil || got.Status != 0 {
		t.Errorf("hop status field on stop: %+v, %v", got, err)
	}
}

func TestStopRejected(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"unknown type", []byte{0x08, 0x02}},
		{"type as bytes", []byte{0x0a, 0x00}},
		{"peer as varint", []byte{0x10, 0x00}},
		{"limit as varint", []byte{0x18, 0x00}},
		{"status as bytes", []byte{0x22, 0x00}},
		{"over max size", appendBytesField(nil, 99, make([]byte, MaxMessageSize))},
		{"peer id too long", appendBytesField(nil, 2, appendBytesField(nil, 1, make([]byte, MaxPeerIDLen+1)))},
		{"truncated", []byte{0x12, 0x28, 0x0a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := ParseStop(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseStop = %+v, %v; want ErrMalformed", got, err)
			}
		})
	}
}
