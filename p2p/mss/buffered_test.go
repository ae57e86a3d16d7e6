package mss

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/relayd/relayd/internal/leakcheck"
)

// countingStream counts the responder's writes.
type countingStream struct {
	*yamux.Stream
	writes int
}

func (s *countingStream) Write(p []byte) (int, error) {
	s.writes++
	return s.Stream.Write(p)
}

// yamuxPair is a client and a server stream of real hashicorp/yamux
// sessions over net.Pipe: a past read deadline is answered from the
// stream's buffer, which NegotiateBuffered relies on.
func yamuxPair(t *testing.T) (client, server *yamux.Stream) {
	t.Helper()
	a, b := net.Pipe()
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	cs, err := yamux.Client(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := yamux.Server(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Close() })
	client, err = cs.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if server, err = ss.AcceptStream(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testTimeout)
	client.SetDeadline(deadline)
	server.SetDeadline(deadline)
	return client, server
}

// TestNegotiateBuffered: a pipelining dialer gets header and answer in one
// write; a dialer that proposes only after our header, or whose first
// proposal we refuse, is served as by Negotiate.
func TestNegotiateBuffered(t *testing.T) {
	tests := []struct {
		name       string
		dial       func(c io.ReadWriter) (string, error)
		wantWrites int
	}{
		{"pipelined", func(c io.ReadWriter) (string, error) {
			return "/a", SelectPipelined(c, "/a", []byte("first"))
		}, 1},
		{"header and proposal in one write", func(c io.ReadWriter) (string, error) {
			p, err := SelectOneOf(c, "/a")
			if err == nil {
				_, err = c.Write([]byte("first"))
			}
			return p, err
		}, 1},
		{"first proposal refused", func(c io.ReadWriter) (string, error) {
			p, err := SelectOneOf(c, "/b", "/a")
			if err == nil {
				_, err = c.Write([]byte("first"))
			}
			return p, err
		}, 2},
		{"proposes after our header", func(c io.ReadWriter) (string, error) {
			if err := writeMessage(c, ID); err != nil {
				return "", err
			}
			if err := readHeader(c); err != nil {
				return "", err
			}
			if err := writeMessage(c, "/a"); err != nil {
				return "", err
			}
			if ok, err := readAnswer(c, "/a"); !ok || err != nil {
				return "", err
			}
			_, err := c.Write([]byte("first"))
			return "/a", err
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			client, server := yamuxPair(t)
			cs := &countingStream{Stream: server}
			type result struct {
				proto, rest string
				err         error
			}
			done := make(chan result, 1)
			go func() {
				p, err := NegotiateBuffered(cs, supports("/a"), time.Now().Add(testTimeout))
				rest := make([]byte, 5)
				if err == nil {
					_, err = io.ReadFull(cs, rest)
				}
				done <- result{p, string(rest), err}
			}()
			p, err := tt.dial(client)
			if err != nil || p != "/a" {
				t.Fatalf("dialer = %q, %v", p, err)
			}
			r := <-done
			if r.err != nil || r.proto != "/a" || r.rest != "first" {
				t.Fatalf("NegotiateBuffered = %q, rest %q, %v; want /a, first", r.proto, r.rest, r.err)
			}
			if cs.writes != tt.wantWrites {
				t.Errorf("responder wrote %d times, want %d", cs.writes, tt.wantWrites)
			}
		})
	}
}

// deadlineScript is a script stream that ignores deadlines: its input is
// always buffered.
type deadlineScript struct{ script }

func (*deadlineScript) SetReadDeadline(time.Time) error { return nil }

func FuzzNegotiateBuffered(f *testing.F) {
	f.Add(msgs(ID, "/a"))
	f.Add(append(msgs(ID, "/a"), "app"...))
	f.Add(msgs(ID, "ls", "/b", "/a"))
	f.Add(msgs(append([]string{ID}, repeat("/b", 17)...)...))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &deadlineScript{script{in: bytes.NewReader(in)}}
		proto, err := NegotiateBuffered(s, supports("/a"), time.Time{})
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
		out := s.out.Bytes()
		if !bytes.HasPrefix(out, AppendMessage(nil, ID)) || !bytes.HasSuffix(out, AppendMessage(nil, "/a")) {
			t.Fatalf("accepted without header or echo: % x", out)
		}
	})
}
