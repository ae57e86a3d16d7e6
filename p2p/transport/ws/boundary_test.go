package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
)

// wsFrame is a client frame: masked with a fixed key, as RFC 6455 asks.
func wsFrame(fin bool, opcode byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	key := [4]byte{1, 2, 3, 4}
	f = append(f, key[:]...)
	for i, c := range payload {
		f = append(f, c^key[i%4])
	}
	return f
}

func TestFrameScanner(t *testing.T) {
	unmasked := []byte{0x82, 3, 'a', 'b', 'c'} // a server's frame
	tests := []struct {
		name   string
		frames [][]byte
		want   []bool // betweenMessages after each frame
	}{
		{"short", [][]byte{wsFrame(true, 2, []byte("hi"))}, []bool{true}},
		{"empty", [][]byte{wsFrame(true, 2, nil)}, []bool{true}},
		{"16-bit length", [][]byte{wsFrame(true, 2, make([]byte, 300))}, []bool{true}},
		{"64-bit length", [][]byte{wsFrame(true, 2, make([]byte, 70000))}, []bool{true}},
		{"unmasked", [][]byte{unmasked}, []bool{true}},
		{"fragmented, a ping inside", [][]byte{
			wsFrame(false, 2, []byte("part 1")),
			wsFrame(true, 9, []byte("ping")),
			wsFrame(false, 0, []byte("part 2")),
			wsFrame(true, 0, []byte("end")),
			wsFrame(true, 2, nil),
		}, []bool{false, false, false, true, true}},
		{"close", [][]byte{wsFrame(true, 8, []byte{3, 232})}, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Byte by byte, and each frame whole: the same states.
			for _, step := range []int{1, 1 << 20} {
				var s frameScanner
				for i, f := range tt.frames {
					for j := 0; j < len(f); j += step {
						if j > 0 && s.betweenMessages() {
							t.Fatalf("step %d, frame %d: between messages after %d of %d bytes", step, i, j, len(f))
						}
						s.scan(f[j:min(len(f), j+step)])
					}
					if got := s.betweenMessages(); got != tt.want[i] {
						t.Fatalf("step %d, after frame %d: between messages %v, want %v", step, i, got, tt.want[i])
					}
				}
			}
		})
	}
}

// FuzzFrameScanner: any bytes, cut anywhere, leave the scanner in the
// same state as the same bytes in one piece, and never panic.
func FuzzFrameScanner(f *testing.F) {
	f.Add(wsFrame(true, 2, []byte("hello")), uint8(3))
	f.Add(append(wsFrame(false, 2, make([]byte, 200)), wsFrame(true, 0, nil)...), uint8(7))
	f.Add([]byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		var whole, pieces frameScanner
		whole.scan(data)
		step := int(cut) + 1
		for i := 0; i < len(data); i += step {
			pieces.scan(data[i:min(len(data), i+step)])
		}
		if whole != pieces {
			t.Fatalf("whole %+v, in pieces of %d %+v", whole, step, pieces)
		}
	})
}

// interruptPair is an accepted Conn and a raw gorilla client on it.
func interruptPair(t *testing.T) (*Conn, *websocket.Conn) {
	t.Helper()
	s := newServer(t, "/ip4/127.0.0.1/tcp/0/ws", Config{}, 16)
	wc := rawClient(t, s)
	sc := s.accept(t)
	if !sc.ResumesAfterReadTimeout() {
		t.Fatal("an accepted connection does not resume after a read timeout")
	}
	return sc, wc
}

// readResult is one Read's outcome.
type readResult struct {
	b   []byte
	err error
}

func readAsync(c net.Conn, n int) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		b := make([]byte, n)
		m, err := c.Read(b)
		ch <- readResult{b[:m], err}
	}()
	return ch
}

func wantTimeout(t *testing.T, r readResult, when string) {
	t.Helper()
	var ne net.Error
	if !errors.Is(r.err, os.ErrDeadlineExceeded) || !errors.As(r.err, &ne) || !ne.Timeout() {
		t.Fatalf("%s: read %q, %v; want a timeout", when, r.b, r.err)
	}
}

func wantData(t *testing.T, r readResult, want, when string) {
	t.Helper()
	if r.err != nil || string(r.b) != want {
		t.Fatalf("%s: read %q, %v; want %q", when, r.b, r.err, want)
	}
}

func recv(t *testing.T, ch <-chan readResult) readResult {
	t.Helper()
	return within(t, ch, "read")
}

// within is the value ch yields, failing the test after 10 s.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
		var zero T
		return zero
	}
}

// TestReadDeadlineBetweenMessages: a read deadline that passes between two
// messages, already past when set (a wake-up) or not, is a timeout the
// connection survives, any number of times.
func TestReadDeadlineBetweenMessages(t *testing.T) {
	leakcheck.Check(t)
	sc, wc := interruptPair(t)
	for i := range 3 {
		ch := readAsync(sc, 64)
		if i%2 == 0 {
			sc.SetReadDeadline(time.Unix(1, 0)) // wake the blocked read
		} else {
			sc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		}
		wantTimeout(t, recv(t, ch), "blocked read")
		wantTimeout(t, recv(t, readAsync(sc, 64)), "read with the deadline still past")
		sc.SetReadDeadline(time.Time{})
		ch = readAsync(sc, 64)
		if err := wc.WriteMessage(websocket.BinaryMessage, []byte("after")); err != nil {
			t.Fatal(err)
		}
		wantData(t, recv(t, ch), "after", "after the timeout")
	}
	echoRaw(t, sc, wc)
}

// echoRaw checks both directions still work.
func echoRaw(t *testing.T, sc *Conn, wc *websocket.Conn) {
	t.Helper()
	if _, err := sc.Write([]byte("to the client")); err != nil {
		t.Fatal(err)
	}
	wc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, b, err := wc.ReadMessage(); err != nil || string(b) != "to the client" {
		t.Fatalf("client read %q, %v", b, err)
	}
}

// TestWakeUpHeldOverMidMessage: a wake-up while a frame, or a fragmented
// message, is half-way in waits for the message's end: the reads return
// the message, then the next read times out, and the connection goes on.
// A real deadline that runs out mid-frame breaks the connection.
func TestWakeUpHeldOverMidMessage(t *testing.T) {
	leakcheck.Check(t)
	frame := wsFrame(true, 2, []byte("one whole frame"))
	tests := []struct {
		name         string
		first, rest  []byte
		want         string
		realDeadline bool
	}{
		{"mid-header", frame[:1], frame[1:], "one whole frame", false},
		{"mid-mask", frame[:4], frame[4:], "one whole frame", false},
		{"mid-payload", frame[:10], frame[10:], "one whole frame", false},
		{"fragmented", wsFrame(false, 2, []byte("one ")), wsFrame(true, 0, []byte("message")), "one message", false},
		{"real deadline mid-payload", frame[:10], frame[10:], "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, wc := interruptPair(t)
			raw := wc.NetConn()
			// One write, so the partial frame has arrived once "start" is read.
			if _, err := raw.Write(append(wsFrame(true, 2, []byte("start")), tt.first...)); err != nil {
				t.Fatal(err)
			}
			wantData(t, recv(t, readAsync(sc, 64)), "start", "the first message")
			if tt.realDeadline {
				sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			} else {
				sc.SetReadDeadline(time.Unix(1, 0))
			}
			done := make(chan readResult, 1)
			go func() {
				var got []byte
				for {
					r := <-readAsync(sc, 64)
					got = append(got, r.b...)
					if r.err != nil || len(got) >= len(tt.want) && len(tt.want) > 0 {
						done <- readResult{got, r.err}
						return
					}
				}
			}()
			time.Sleep(20 * time.Millisecond) // let the reads meet the deadline mid-message; the outcome is the same if not
			if !tt.realDeadline {
				if _, err := raw.Write(tt.rest); err != nil {
					t.Fatal(err)
				}
			}
			r := recv(t, done)
			if tt.realDeadline {
				if r.err == nil {
					t.Fatalf("read %q and no error; want the deadline's", r.b)
				}
				sc.SetReadDeadline(time.Time{})
				raw.Write(tt.rest)
				if r := recv(t, readAsync(sc, 64)); r.err == nil {
					t.Fatalf("read %q after a real deadline ran out mid-frame; want the error again", r.b)
				}
				return
			}
			wantData(t, r, tt.want, "the message")
			wantTimeout(t, recv(t, readAsync(sc, 64)), "the held-over wake-up")
			sc.SetReadDeadline(time.Time{})
			ch := readAsync(sc, 64)
			if err := wc.WriteMessage(websocket.BinaryMessage, []byte("next")); err != nil {
				t.Fatal(err)
			}
			wantData(t, recv(t, ch), "next", "after the wake-up")
			echoRaw(t, sc, wc)
		})
	}
}

// TestWakeUpReplaced: a later deadline replaces a held-over wake-up.
func TestWakeUpReplaced(t *testing.T) {
	leakcheck.Check(t)
	sc, wc := interruptPair(t)
	frame := wsFrame(true, 2, []byte("payload"))
	raw := wc.NetConn()
	raw.Write(append(wsFrame(true, 2, []byte("start")), frame[:4]...))
	wantData(t, recv(t, readAsync(sc, 64)), "start", "the first message")
	ch := readAsync(sc, 64)
	sc.SetReadDeadline(time.Unix(1, 0))
	time.Sleep(20 * time.Millisecond) // let the read meet the wake-up; the outcome is the same if not
	sc.SetReadDeadline(time.Time{})
	raw.Write(frame[4:])
	wantData(t, recv(t, ch), "payload", "the message")
	ch = readAsync(sc, 64)
	if err := wc.WriteMessage(websocket.BinaryMessage, []byte("next")); err != nil {
		t.Fatal(err)
	}
	wantData(t, recv(t, ch), "next", "no interruption after the deadline was cleared")
}

// TestDialedConnDoesNotResume: our own client connections read through
// gorilla directly; the host does not park them.
func TestDialedConnDoesNotResume(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, "/ip4/127.0.0.1/tcp/0/ws", Config{}, 16)
	cc := s.dial(t, ma.StringCast("/ip4/127.0.0.1/tcp/"+s.port()+"/ws"))
	s.accept(t)
	if cc.ResumesAfterReadTimeout() {
		t.Error("a dialed connection claims to resume after a read timeout")
	}
}

// TestWaitReadable: right after an interruption, WaitReadable waits until
// the peer sends (returning before the message is read, which a Read then
// gets whole) or the read deadline passes; elsewhere it returns at once.
// Over TLS too, where it waits on the socket under the TLS connection.
func TestWaitReadable(t *testing.T) {
	leakcheck.Check(t)
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			s := newServer(t, "/ip4/127.0.0.1/tcp/0/"+scheme, Config{}, 16)
			wc := rawClientScheme(t, s, scheme)
			sc := s.accept(t)
			if err := waitAsync(sc); err != nil {
				t.Fatalf("WaitReadable before any interruption: %v, want nil at once", err)
			}
			sc.SetReadDeadline(time.Unix(1, 0))
			wantTimeout(t, recv(t, readAsync(sc, 64)), "the wake-up")
			sc.SetReadDeadline(time.Time{})

			done := make(chan error, 1)
			go func() { done <- sc.WaitReadable() }()
			select {
			case err := <-done:
				t.Fatalf("WaitReadable returned %v with nothing sent", err)
			case <-time.After(50 * time.Millisecond):
			}
			if err := wc.WriteMessage(websocket.BinaryMessage, []byte("wake")); err != nil {
				t.Fatal(err)
			}
			if err := recvErr(t, done); err != nil {
				t.Fatalf("WaitReadable after the peer sent: %v", err)
			}
			wantData(t, recv(t, readAsync(sc, 64)), "wake", "the message waited for")

			// Drained again by a deadline; a wake-up during the wait ends it.
			sc.SetReadDeadline(time.Unix(1, 0))
			wantTimeout(t, recv(t, readAsync(sc, 64)), "the second wake-up")
			sc.SetReadDeadline(time.Time{})
			go func() { done <- sc.WaitReadable() }()
			time.Sleep(20 * time.Millisecond) // let it wait; the outcome is the same if not
			sc.SetReadDeadline(time.Unix(1, 0))
			if err := recvErr(t, done); !isTimeout(err) {
				t.Fatalf("WaitReadable through a wake-up: %v, want a timeout", err)
			}
			sc.SetReadDeadline(time.Time{})
			echoRaw(t, sc, wc)
		})
	}
}

func waitAsync(c *Conn) error {
	done := make(chan error, 1)
	go func() { done <- c.WaitReadable() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("WaitReadable did not return")
	}
}

func recvErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	return within(t, ch, "WaitReadable")
}

// rawClientScheme is rawClient over ws or wss (trusting the server's
// test certificate).
func rawClientScheme(t *testing.T, s *server, scheme string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: s.cert.Client}
	wc, resp, err := d.DialContext(ctx10(t), scheme+"://127.0.0.1:"+s.port()+"/", nil)
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wc.Close() })
	return wc
}

// TestWaitReadableAfterHeldWakeUp: an interruption from a held-over
// wake-up may leave a whole message inside the TLS connection, above the
// socket; WaitReadable must not wait on the socket then.
func TestWaitReadableAfterHeldWakeUp(t *testing.T) {
	leakcheck.Check(t)
	s := newServer(t, "/ip4/127.0.0.1/tcp/0/wss", Config{}, 16)
	wc := rawClientScheme(t, s, "wss")
	sc := s.accept(t)
	raw := wc.NetConn() // the client's TLS connection: one Write, one record
	a := wsFrame(true, 2, bytes.Repeat([]byte("a"), 100))
	b := bytes.Repeat([]byte("b"), 2000)
	if _, err := raw.Write(append(wsFrame(true, 2, []byte("start")), a[:10]...)); err != nil {
		t.Fatal(err)
	}
	wantData(t, recv(t, readAsync(sc, 1<<16)), "start", "the first message")
	sc.SetReadDeadline(time.Unix(1, 0))
	got := make(chan readResult, 1)
	go func() { // the rest of a, then b, read as the Noise layer reads: into a large buffer
		var all []byte
		for len(all) < 100+len(b) {
			r := <-readAsync(sc, 1<<16)
			all = append(all, r.b...)
			if r.err != nil {
				got <- readResult{all, r.err}
				return
			}
		}
		got <- readResult{all, nil}
	}()
	time.Sleep(20 * time.Millisecond) // let the read meet the wake-up mid-frame; the outcome is the same if not
	rest := append(append(a[10:], wsFrame(true, 2, b)...), wsFrame(true, 2, []byte("c"))...)
	if _, err := raw.Write(rest); err != nil {
		t.Fatal(err)
	}
	wantData(t, recv(t, got), strings.Repeat("a", 100)+string(b), "a and b")
	wantTimeout(t, recv(t, readAsync(sc, 1<<16)), "the held-over wake-up")
	sc.SetReadDeadline(time.Time{})
	if err := waitAsync(sc); err != nil {
		t.Fatalf("WaitReadable with c still inside TLS: %v", err)
	}
	wantData(t, recv(t, readAsync(sc, 1<<16)), "c", "the message left inside TLS")
}
