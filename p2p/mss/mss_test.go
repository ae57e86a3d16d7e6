package mss

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayd/relayd/internal/leakcheck"
)

const testTimeout = 5 * time.Second

// script is a peer whose input is fixed in advance; what we write to it is
// recorded. Writes never block, like a buffered stream.
type script struct {
	in  io.Reader
	out bytes.Buffer
}

func (s *script) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *script) Write(p []byte) (int, error) { return s.out.Write(p) }

func newScript(msgs ...string) *script {
	var b []byte
	for _, m := range msgs {
		b = AppendMessage(b, m)
	}
	return &script{in: bytes.NewReader(b)}
}

// messages decodes everything written to s.
func (s *script) messages(t *testing.T) []string {
	t.Helper()
	var out []string
	r := bytes.NewReader(s.out.Bytes())
	for {
		m, err := ReadMessage(r)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("decoding our own output: %v", err)
		}
		out = append(out, m)
	}
}

func supports(protos ...string) func(string) bool {
	return func(p string) bool { return slices.Contains(protos, p) }
}

// pipe returns both ends of a net.Pipe with a deadline, closed at cleanup.
func pipe(t *testing.T) (client, server net.Conn) {
	t.Helper()
	client, server = net.Pipe()
	deadline := time.Now().Add(testTimeout)
	_ = client.SetDeadline(deadline)
	_ = server.SetDeadline(deadline)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestGoldenBytes(t *testing.T) {
	if got := AppendMessage(nil, "na"); !bytes.Equal(got, []byte{0x03, 'n', 'a', '\n'}) {
		t.Errorf("na = % x", got)
	}
	h := AppendMessage(nil, ID)
	if len(h) != 20 || h[0] != 0x13 || h[19] != '\n' {
		t.Errorf("header = % x", h)
	}
	hop := AppendMessage(nil, "/libp2p/circuit/relay/0.2.0/hop")
	if hop[0] != 0x20 {
		t.Errorf("hop prefix = %x, want 20", hop[0])
	}
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name      string
		server    []string
		propose   []string
		want      string
		clientErr error
		serverErr error
	}{
		{"first accepted", []string{"/noise"}, []string{"/noise"}, "/noise", nil, nil},
		{"na then accept", []string{"/noise"}, []string{"/tls/1.0.0", "/noise"}, "/noise", nil, nil},
		{"third accepted", []string{"/c"}, []string{"/a", "/b", "/c"}, "/c", nil, nil},
		{"first of several supported", []string{"/a", "/b"}, []string{"/b", "/a"}, "/b", nil, nil},
		{"none supported", []string{"/x"}, []string{"/a", "/b"}, "", ErrNotSupported, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			client, server := pipe(t)
			type result struct {
				proto string
				err   error
			}
			done := make(chan result, 1)
			go func() {
				p, err := Negotiate(server, supports(tt.server...))
				done <- result{p, err}
			}()
			got, err := SelectOneOf(client, tt.propose...)
			if !errors.Is(err, tt.clientErr) || got != tt.want {
				t.Errorf("SelectOneOf = %q, %v; want %q, %v", got, err, tt.want, tt.clientErr)
			}
			client.Close() // a refused client hangs up; the server sees EOF
			res := <-done
			if !errors.Is(res.err, tt.serverErr) || res.proto != tt.want {
				t.Errorf("Negotiate = %q, %v; want %q, %v", res.proto, res.err, tt.want, tt.serverErr)
			}
		})
	}
}

// TestPipelinedClient plays go-libp2p's lazy dialer: header, proposal and the
// first application bytes in one write, before reading anything.
func TestPipelinedClient(t *testing.T) {
	leakcheck.Check(t)
	client, server := pipe(t)
	const proto = "/libp2p/circuit/relay/0.2.0/hop"
	app := []byte("\x02\x08\x00 and then relayed bytes")
	req := append(AppendMessage(AppendMessage(nil, ID), proto), app...)
	wrote := make(chan error, 1)
	go func() {
		_, err := client.Write(req)
		wrote <- err
	}()
	answer := make(chan []byte, 1)
	go func() {
		want := len(AppendMessage(AppendMessage(nil, ID), proto))
		b := make([]byte, want)
		_, _ = io.ReadFull(client, b)
		answer <- b
	}()

	got, err := Negotiate(server, supports(proto))
	if err != nil || got != proto {
		t.Fatalf("Negotiate = %q, %v", got, err)
	}
	rest := make([]byte, len(app))
	if _, err := io.ReadFull(server, rest); err != nil || !bytes.Equal(rest, app) {
		t.Fatalf("application bytes after Negotiate = %q, %v; want %q", rest, err, app)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if want := AppendMessage(AppendMessage(nil, ID), proto); !bytes.Equal(<-answer, want) {
		t.Fatal("server did not answer header + echo")
	}
}

func TestNegotiateScripted(t *testing.T) {
	tooLong := strings.Repeat("x", MaxMessageSize) // + newline = 1025
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr error
		wantOut []string
		rest    string
	}{
		{
			name: "accept", in: msgs(ID, "/a"), want: "/a",
			wantOut: []string{ID, "/a"},
		},
		{
			name: "pipelined app bytes stay unread", in: append(msgs(ID, "/a"), "payload"...), want: "/a",
			wantOut: []string{ID, "/a"}, rest: "payload",
		},
		{
			name: "ls gets na", in: msgs(ID, "ls", "/a"), want: "/a",
			wantOut: []string{ID, na, "/a"},
		},
		{
			name: "na then accept", in: msgs(ID, "/b", "/a"), want: "/a",
			wantOut: []string{ID, na, "/a"},
		},
		{
			name: "TLS ClientHello instead of header", in: append([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, make([]byte, 40)...),
			wantErr: ErrMalformed, wantOut: []string{ID},
		},
		{
			name: "wrong header", in: msgs("/multistream/2.0.0", "/a"),
			wantErr: ErrMalformed, wantOut: []string{ID},
		},
		{
			name: "too long proposal", in: append(msgs(ID), AppendMessage(nil, tooLong)...),
			wantErr: ErrMalformed, wantOut: []string{ID},
		},
		{
			name: "missing newline", in: append(msgs(ID), 0x02, '/', 'a'),
			wantErr: ErrMalformed, wantOut: []string{ID},
		},
		{
			name: "empty message", in: append(msgs(ID), 0x00),
			wantErr: ErrMalformed, wantOut: []string{ID},
		},
		{
			name: "truncated header", in: msgs(ID)[:10],
			wantErr: io.ErrUnexpectedEOF, wantOut: []string{ID},
		},
		{
			name: "truncated proposal", in: msgs(ID, "/a")[:22],
			wantErr: io.ErrUnexpectedEOF, wantOut: []string{ID},
		},
		{
			name: "peer hangs up after na", in: msgs(ID, "/b"),
			wantErr: io.EOF, wantOut: []string{ID, na},
		},
		{
			name: "too many proposals", in: msgs(append([]string{ID}, repeat("/b", 17)...)...),
			wantErr: ErrNotSupported, wantOut: append([]string{ID}, repeat(na, 16)...), rest: string(msgs("/b")),
		},
		{
			name: "sixteenth proposal accepted", in: msgs(append(append([]string{ID}, repeat("/b", 15)...), "/a")...),
			want: "/a", wantOut: append(append([]string{ID}, repeat(na, 15)...), "/a"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{in: bytes.NewReader(tt.in)}
			got, err := Negotiate(s, supports("/a"))
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Negotiate = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if out := s.messages(t); !slices.Equal(out, tt.wantOut) {
				t.Errorf("wrote %q, want %q", out, tt.wantOut)
			}
			if rest, _ := io.ReadAll(s.in); (tt.wantErr == nil || tt.rest != "") && string(rest) != tt.rest {
				t.Errorf("unread = %q, want %q", rest, tt.rest)
			}
		})
	}
}

func TestSelectOneOfScripted(t *testing.T) {
	tests := []struct {
		name    string
		propose []string
		in      []byte
		want    string
		wantErr error
		wantOut []string
	}{
		{"accept", []string{"/a"}, msgs(ID, "/a"), "/a", nil, []string{ID, "/a"}},
		{"na then accept", []string{"/a", "/b"}, msgs(ID, na, "/b"), "/b", nil, []string{ID, "/a", "/b"}},
		{"all refused", []string{"/a", "/b"}, msgs(ID, na, na), "", ErrNotSupported, []string{ID, "/a", "/b"}},
		{"wrong echo", []string{"/a"}, msgs(ID, "/b"), "", ErrMalformed, []string{ID, "/a"}},
		{"wrong header", []string{"/a"}, msgs("/multistream/0.9", "/a"), "", ErrMalformed, []string{ID, "/a"}},
		{"truncated answer", []string{"/a"}, msgs(ID, "/a")[:21], "", io.ErrUnexpectedEOF, []string{ID, "/a"}},
		{"nothing to propose", nil, msgs(ID), "", ErrNotSupported, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			s := &script{in: bytes.NewReader(tt.in)}
			got, err := SelectOneOf(s, tt.propose...)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("SelectOneOf = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if out := s.messages(t); !slices.Equal(out, tt.wantOut) {
				t.Errorf("wrote %q, want %q", out, tt.wantOut)
			}
		})
	}
}

func TestSelectOneOfSingleFirstWrite(t *testing.T) {
	leakcheck.Check(t)
	w := &writeRecorder{in: bytes.NewReader(msgs(ID, "/a"))}
	if _, err := SelectOneOf(w, "/a"); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 1 || !bytes.Equal(w.writes[0], msgs(ID, "/a")) {
		t.Fatalf("writes = %q, want header and proposal in one write", w.writes)
	}
}

type writeRecorder struct {
	in     io.Reader
	writes [][]byte
}

func (w *writeRecorder) Read(p []byte) (int, error) { return w.in.Read(p) }
func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestSelectOneOfInvalidProposals(t *testing.T) {
	for _, p := range []string{"", na, ls, strings.Repeat("p", MaxMessageSize)} {
		if _, err := SelectOneOf(newScript(ID, p), "/ok", p); err == nil {
			t.Errorf("proposal %.20q accepted", p)
		}
	}
	if _, err := SelectOneOf(newScript(ID, "/x"), strings.Repeat("p", MaxMessageSize-1)); err == nil {
		t.Error("expected the peer's wrong echo to fail, proving the max-size proposal was sent")
	}
}

// TestNegotiateSilentPeer shows the caller's deadline ends a negotiation with
// a peer that never sends: first one that never reads either (the header
// write blocks), then one that reads but never writes.
func TestNegotiateSilentPeer(t *testing.T) {
	for _, drain := range []bool{false, true} {
		name := map[bool]string{false: "peer neither reads nor writes", true: "peer only reads"}[drain]
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			client, server := net.Pipe()
			defer client.Close()
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				if drain {
					_, _ = io.Copy(io.Discard, client)
				}
			}()
			_ = server.SetDeadline(time.Now().Add(50 * time.Millisecond))
			_, err := Negotiate(server, supports("/a"))
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("err = %v, want deadline exceeded", err)
			}
			server.Close()
			<-drained
		})
	}
}

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr error
	}{
		{"header", msgs(ID), ID, nil},
		{"empty text", []byte{0x01, '\n'}, "", nil},
		{"max size", AppendMessage(nil, strings.Repeat("m", MaxMessageSize-1)), strings.Repeat("m", MaxMessageSize-1), nil},
		{"over max size", AppendMessage(nil, strings.Repeat("m", MaxMessageSize)), "", ErrMalformed},
		{"empty body", []byte{0x00}, "", ErrMalformed},
		{"no newline", []byte{0x02, 'n', 'a'}, "", ErrMalformed},
		{"non-minimal varint", []byte{0x83, 0x00, 'n', 'a', '\n'}, "", ErrMalformed},
		{"endless varint", []byte{0xff, 0xff, 0xff, 0xff}, "", ErrMalformed},
		{"eof", nil, "", io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadMessage(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("ReadMessage = %.30q, %v; want %.30q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestReadMessageTruncations(t *testing.T) {
	for _, s := range []string{"", na, ID, strings.Repeat("t", 500)} {
		full := AppendMessage(nil, s)
		for i := range full {
			_, err := ReadMessage(bytes.NewReader(full[:i]))
			want := io.ErrUnexpectedEOF
			if i == 0 {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Fatalf("%.10q cut at %d: err = %v, want %v", s, i, err, want)
			}
		}
	}
}

func msgs(m ...string) []byte {
	var b []byte
	for _, s := range m {
		b = AppendMessage(b, s)
	}
	return b
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestSelectOneOfSilentPeer shows the deadline also ends the initiator's
// background write when the peer neither reads nor writes.
func TestSelectOneOfSilentPeer(t *testing.T) {
	leakcheck.Check(t)
	client, server := net.Pipe()
	defer server.Close()
	defer client.Close()
	_ = client.SetDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := SelectOneOf(client, "/a"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestSelectPipelinedScripted(t *testing.T) {
	first := []byte("\x05hello")
	tests := []struct {
		name    string
		propose string
		in      []byte
		wantErr error
		// wantWrite is the single write expected (nil: none).
		wantWrite []byte
	}{
		{"accept", "/a", msgs(ID, "/a"), nil, append(msgs(ID, "/a"), first...)},
		{"refused", "/a", msgs(ID, na), ErrNotSupported, append(msgs(ID, "/a"), first...)},
		{"wrong echo", "/a", msgs(ID, "/b"), ErrMalformed, append(msgs(ID, "/a"), first...)},
		{"wrong header", "/a", msgs("/multistream/0.9", "/a"), ErrMalformed, append(msgs(ID, "/a"), first...)},
		{"truncated answer", "/a", msgs(ID, "/a")[:21], io.ErrUnexpectedEOF, append(msgs(ID, "/a"), first...)},
		{"silent peer", "/a", nil, io.EOF, append(msgs(ID, "/a"), first...)},
		{"invalid proposal", na, msgs(ID, na), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			w := &writeRecorder{in: bytes.NewReader(tt.in)}
			err := SelectPipelined(w, tt.propose, first)
			switch {
			case tt.wantWrite == nil && err == nil:
				t.Fatal("SelectPipelined accepted an invalid proposal")
			case tt.wantWrite != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("SelectPipelined = %v, want %v", err, tt.wantErr)
			}
			if tt.wantWrite == nil {
				if len(w.writes) != 0 {
					t.Fatalf("wrote %q for an invalid proposal", w.writes)
				}
				return
			}
			if len(w.writes) != 1 || !bytes.Equal(w.writes[0], tt.wantWrite) {
				t.Fatalf("writes = %q, want header, proposal and first message in one write", w.writes)
			}
		})
	}
}

// TestSelectPipelinedNegotiate runs SelectPipelined against our own
// responder over loopback TCP (buffered both ways, as a muxed stream is;
// net.Pipe would deadlock the two header writes): the first message stays
// in the stream for the handler.
func TestSelectPipelinedNegotiate(t *testing.T) {
	leakcheck.Check(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	deadline := time.Now().Add(testTimeout)
	client.SetDeadline(deadline)
	server.SetDeadline(deadline)
	type result struct {
		proto, rest string
		err         error
	}
	done := make(chan result, 1)
	go func() {
		p, err := Negotiate(server, supports("/a"))
		rest := make([]byte, 5)
		if err == nil {
			_, err = io.ReadFull(server, rest)
		}
		done <- result{p, string(rest), err}
	}()
	if err := SelectPipelined(client, "/a", []byte("first")); err != nil {
		t.Fatalf("SelectPipelined: %v", err)
	}
	if r := <-done; r.err != nil || r.proto != "/a" || r.rest != "first" {
		t.Fatalf("Negotiate = %q, rest %q, %v; want /a, first", r.proto, r.rest, r.err)
	}
}
