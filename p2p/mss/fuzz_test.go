package mss

import (
	"bytes"
	"io"
	"testing"
)

func FuzzReadMessage(f *testing.F) {
	for _, s := range []string{"", na, ls, ID, "/libp2p/circuit/relay/0.2.0/hop"} {
		f.Add(AppendMessage(nil, s))
	}
	f.Add([]byte{0x80, 0x00})
	f.Add([]byte{0x02, 'n', 'a'})
	f.Fuzz(func(t *testing.T, in []byte) {
		// As text: every short enough string survives a round trip.
		if s := string(in); len(s)+1 <= MaxMessageSize {
			got, err := ReadMessage(bytes.NewReader(AppendMessage(nil, s)))
			if err != nil || got != s {
				t.Fatalf("round trip of %q = %q, %v", s, got, err)
			}
		}
		// As wire bytes: a decoded message re-encodes to exactly the bytes
		// consumed, and nothing beyond them was read.
		r := bytes.NewReader(in)
		s, err := ReadMessage(r)
		if err != nil {
			return
		}
		enc := AppendMessage(nil, s)
		if !bytes.HasPrefix(in, enc) || r.Len() != len(in)-len(enc) {
			t.Fatalf("decoded %q from % x but consumed %d bytes", s, in, len(in)-r.Len())
		}
	})
}

func FuzzNegotiate(f *testing.F) {
	f.Add(msgs(ID, "/a"))
	f.Add(append(msgs(ID, "/a"), "app"...))
	f.Add(msgs(ID, "ls", "/b", "/a"))
	f.Add(msgs(append([]string{ID}, repeat("/b", 17)...)...))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		// Negotiate reads at least one byte per message and answers at most
		// maxProposals of them, so it terminates on any input.
		s := &script{in: bytes.NewReader(in)}
		proto, err := Negotiate(s, supports("/a"))
		if err != nil {
			return
		}
		if proto != "/a" {
			t.Fatalf("accepted unsupported %q", proto)
		}
		rest, _ := io.ReadAll(s.in)
		if !bytes.HasSuffix(in, rest) {
			t.Fatal("unread bytes are not the tail of the input")
		}
		if !bytes.HasSuffix(s.out.Bytes(), AppendMessage(nil, "/a")) {
			t.Fatalf("accepted without echo: % x", s.out.Bytes())
		}
	})
}

func FuzzSelectOneOf(f *testing.F) {
	f.Add(msgs(ID, "/a"))
	f.Add(msgs(ID, na, "/b"))
	f.Add(msgs(ID, na, na))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &script{in: bytes.NewReader(in)}
		proto, err := SelectOneOf(s, "/a", "/b")
		if err == nil && proto != "/a" && proto != "/b" {
			t.Fatalf("selected %q", proto)
		}
	})
}
