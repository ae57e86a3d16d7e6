package host

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/noise"
)

func noisePair(t *testing.T) (*noise.Conn, *noise.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	_, ka, _ := ed25519.GenerateKey(rand.Reader)
	_, kb, _ := ed25519.GenerateKey(rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := make(chan *noise.Conn, 1)
	go func() {
		c, err := noise.Server(ctx, b, kb, nil)
		if err != nil {
			t.Error(err)
		}
		srv <- c
	}()
	c, err := noise.Client(ctx, a, ka, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, <-srv
}

func yamuxHeader(typ byte, length uint32) []byte {
	h := make([]byte, yamuxHeaderSize)
	h[1] = typ
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

// TestCoalescerHoldsOnlyDataHeaders checks the one risk of coalescing: a
// header with no body must go out at once, or the peer would wait forever.
func TestCoalescerHoldsOnlyDataHeaders(t *testing.T) {
	leakcheck.Check(t)
	a, b := noisePair(t)
	w := &frameCoalescer{Conn: a}
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	steps := []struct {
		name  string
		write [][]byte
	}{
		{"window update goes alone", [][]byte{yamuxHeader(1, 1000)}},
		{"ping goes alone", [][]byte{yamuxHeader(2, 7)}},
		{"data header with zero length (SYN) goes alone", [][]byte{yamuxHeader(0, 0)}},
		{"data header waits for its body", [][]byte{yamuxHeader(0, 5), []byte("hello")}},
	}
	for _, st := range steps {
		var want []byte
		go func() {
			for _, p := range st.write {
				w.Write(p)
			}
		}()
		for _, p := range st.write {
			want = append(want, p...)
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(b, got); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if string(got) != string(want) {
			t.Fatalf("%s: got %x, want %x", st.name, got, want)
		}
	}
}

func yamuxFrame(typ byte, flags uint16, id, length uint32) []byte {
	return encodeYamux(make([]byte, yamuxHeaderSize), typ, flags, id, length)
}

// TestCoalescerHoldsStreamOpening: a SYN or ACK frame waits for the next
// write and travels in its Noise frame; a reset takes it along first;
// frames that end or reset a stream, and every frame of a CoalesceYamux
// session, go at once.
func TestCoalescerHoldsStreamOpening(t *testing.T) {
	leakcheck.Check(t)
	syn := yamuxFrame(yamuxTypeWindowUpdate, yamuxFlagSYN, 3, 0)
	ack := yamuxFrame(yamuxTypeWindowUpdate, yamuxFlagACK, 2, 0)
	fin := yamuxFrame(yamuxTypeWindowUpdate, 0x4, 3, 0)
	data := append(yamuxFrame(yamuxTypeData, 0, 3, 5), "hello"...)
	tests := []struct {
		name   string
		noHold bool
		write  func(w *frameCoalescer)
		frames [][]byte // what the peer reads, one Noise frame each
	}{
		{"SYN with the first data frame", false, func(w *frameCoalescer) {
			w.Write(syn)
			w.Write(data[:yamuxHeaderSize])
			w.Write(data[yamuxHeaderSize:])
		}, [][]byte{append(slices.Clone(syn), data...)}},
		{"ACK with the next frame", false, func(w *frameCoalescer) {
			w.Write(ack)
			w.Write(fin)
		}, [][]byte{append(slices.Clone(ack), fin...)}},
		{"FIN goes at once", false, func(w *frameCoalescer) { w.Write(fin) }, [][]byte{fin}},
		{"a reset takes the SYN along", false, func(w *frameCoalescer) {
			w.Write(syn)
			w.resetStream(3)
		}, nil},
		{"mesh sessions hold nothing", true, func(w *frameCoalescer) {
			w.Write(syn)
			w.Write(fin)
		}, [][]byte{syn, fin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := noisePair(t)
			w := &frameCoalescer{Conn: a, noHoldOpen: tt.noHold}
			b.SetReadDeadline(time.Now().Add(10 * time.Second))
			go tt.write(w)
			buf := make([]byte, 1024)
			if tt.frames == nil { // the reset: SYN, RST and ping in one frame
				n, err := b.Read(buf)
				if err != nil || n != 3*yamuxHeaderSize || string(buf[:yamuxHeaderSize]) != string(syn) ||
					binary.BigEndian.Uint16(buf[yamuxHeaderSize+2:])&yamuxFlagRST == 0 {
					t.Fatalf("read %x, %v; want SYN, RST, ping in one frame", buf[:n], err)
				}
				return
			}
			for i, want := range tt.frames {
				n, err := b.Read(buf)
				if err != nil || string(buf[:n]) != string(want) {
					t.Fatalf("frame %d: read %x, %v; want %x", i, buf[:n], err, want)
				}
			}
		})
	}
}
