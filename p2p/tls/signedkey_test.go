package p2ptls

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"testing"
	"time"
)

func validSignedKeys(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, v := range specVectors {
		cert, err := x509.ParseCertificate(vectorDER(t, v.cert))
		if err != nil {
			t.Fatal(err)
		}
		value, err := extensionValue(cert)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, value)
	}
	return out
}

func TestSignedKeyTruncations(t *testing.T) {
	for _, b := range validSignedKeys(t) {
		if _, err := parseSignedKey(b); err != nil {
			t.Fatal(err)
		}
		for n := range len(b) {
			_, err := parseSignedKey(b[:n])
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("prefix %d/%d: err = %v, want io.ErrUnexpectedEOF", n, len(b), err)
			}
		}
	}
}

func TestSignedKeyRejects(t *testing.T) {
	valid := validSignedKeys(t)[0]
	tests := map[string][]byte{
		"trailing byte":  append(append([]byte(nil), valid...), 0),
		"oversize":       make([]byte, maxSignedKeySize+1),
		"not a sequence": {0x04, 0x00},
		"one field":      {0x30, 0x02, 0x04, 0x00},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := parseSignedKey(b); !errors.Is(err, ErrMalformedExtension) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func FuzzParseSignedKey(f *testing.F) {
	for _, b := range validSignedKeys(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sk, err := parseSignedKey(b)
		if err != nil {
			return
		}
		enc, err := sk.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("round trip differs:\n in %x\nout %x", b, enc)
		}
	})
}

// FuzzVerifyChain feeds arbitrary certificates to the verifier; it must
// never panic, and what it accepts must verify again the same way.
func FuzzVerifyChain(f *testing.F) {
	for _, v := range specVectors {
		f.Add(vectorDER(f, v.cert))
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, der []byte) {
		key, err := VerifyChain([][]byte{der}, now)
		if err != nil {
			return
		}
		again, err := VerifyChain([][]byte{der}, now)
		if err != nil || !bytes.Equal(again.Marshal(), key.Marshal()) {
			t.Fatalf("second verification differs: %v", err)
		}
	})
}
