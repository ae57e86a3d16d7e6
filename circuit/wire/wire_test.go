package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// testPeerID returns a 38-byte Ed25519-style peer ID (identity multihash of
// the PublicKey protobuf) whose key bytes are all fill.
func testPeerID(fill byte) []byte {
	return append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, bytes.Repeat([]byte{fill}, 32)...)
}

// testAddr is /ip4/1.2.3.4/tcp/4001/p2p/<id>.
func testAddr(id []byte) []byte {
	a := []byte{0x04, 1, 2, 3, 4, 0x06, 0x0f, 0xa1, 0xa5, 0x03}
	a = protowire.AppendVarint(a, uint64(len(id)))
	return append(a, id...)
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var defaultLimit = &Limit{Duration: 120, Data: 131072}

func TestStatusString(t *testing.T) {
	tests := map[Status]string{
		StatusUnused: "UNUSED", StatusOK: "OK", StatusReservationRefused: "RESERVATION_REFUSED",
		StatusResourceLimitExceeded: "RESOURCE_LIMIT_EXCEEDED", StatusPermissionDenied: "PERMISSION_DENIED",
		StatusConnectionFailed: "CONNECTION_FAILED", StatusNoReservation: "NO_RESERVATION",
		StatusMalformedMessage: "MALFORMED_MESSAGE", StatusUnexpectedMessage: "UNEXPECTED_MESSAGE",
		Status(7): "Status(7)",
	}
	for s, want := range tests {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", uint32(s), got, want)
		}
	}
	if HopConnect.String() != "CONNECT" || HopType(9).String() != "HopType(9)" ||
		StopStatus.String() != "STATUS" || StopType(2).String() != "StopType(2)" {
		t.Error("type names wrong")
	}
}

func TestVoucherPayloadType(t *testing.T) {
	a := VoucherPayloadType()
	if !bytes.Equal(a, []byte{0x03, 0x02}) {
		t.Fatalf("payload type = % x", a)
	}
	a[0] = 0xff
	if VoucherPayloadType()[0] != 0x03 {
		t.Fatal("payload type shared between callers")
	}
}

// boundaries returns the offsets in a valid message at which a top-level
// field ends; cutting there leaves a shorter valid message.
func boundaries(t *testing.T, b []byte) map[int]bool {
	t.Helper()
	out := map[int]bool{0: true}
	for off := 0; off < len(b); {
		_, _, n := protowire.ConsumeField(b[off:])
		if n < 0 {
			t.Fatalf("test message is invalid at %d", off)
		}
		off += n
		out[off] = true
	}
	return out
}

// checkTruncations cuts enc at every length: at a field boundary the prefix
// must parse, anywhere else it must fail with ErrMalformed and
// io.ErrUnexpectedEOF (a cut length prefix or body), never panic.
func checkTruncations(t *testing.T, enc []byte, parse func([]byte) error) {
	t.Helper()
	ok := boundaries(t, enc)
	for i := range len(enc) {
		err := parse(enc[:i])
		if ok[i] {
			if err != nil {
				t.Errorf("cut at field boundary %d: %v", i, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d of %d: err = %v, want malformed + unexpected EOF", i, len(enc), err)
		}
	}
}

// unknownFields holds one unknown field of every wire type.
func unknownFields() []byte {
	var b []byte
	b = appendVarintField(b, 99, 12345)
	b = protowire.AppendTag(b, 100, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1)
	b = appendBytesField(b, 101, []byte("future"))
	b = protowire.AppendTag(b, 102, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 2)
	b = protowire.AppendTag(b, 103, protowire.StartGroupType)
	b = appendVarintField(b, 1, 1)
	b = protowire.AppendTag(b, 103, protowire.EndGroupType)
	return b
}

// interleave inserts extra after every top-level field of enc.
func interleave(t *testing.T, enc, extra []byte) []byte {
	t.Helper()
	var out []byte
	for off := 0; off < len(enc); {
		_, _, n := protowire.ConsumeField(enc[off:])
		out = append(append(out, enc[off:off+n]...), extra...)
		off += n
	}
	return out
}
