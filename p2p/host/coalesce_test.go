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

// TestCoalescerForgedPingAck: answers to our pings are swallowed, but
// only as many as we sent count; a forged one must not leave the
// connection unable to park (nothingPending) for good.
func TestCoalescerForgedPingAck(t *testing.T) {
	leakcheck.Check(t)
	ack := func(n uint32) []byte { return yamuxFrame(yamuxTypePing, yamuxFlagACK, 0, ourPing|n) }
	data := append(yamuxFrame(yamuxTypeData, 0, 1, 2), 'h', 'i')
	cases := []struct {
		name    string
		out     int32 // our pings not answered when the frames arrive
		frames  [][]byte
		wantOut int32
	}{
		{"a forged answer counts nothing", 0, [][]byte{ack(1)}, 0},
		{"one answer per ping", 1, [][]byte{ack(1)}, 0},
		{"more answers than pings", 1, [][]byte{ack(1), ack(2), ack(3)}, 0},
		{"an answer still awaited", 2, [][]byte{ack(1)}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := noisePair(t)
			c := &frameCoalescer{Conn: a}
			c.pingsOut.Store(tc.out)
			in := append(slices.Concat(tc.frames...), data...)
			go b.Write(in)
			a.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := make([]byte, len(data))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != string(data) {
				t.Fatalf("yamux got %x, want only the data frame %x", got, data)
			}
			if n := c.pingsOut.Load(); n != tc.wantOut {
				t.Fatalf("pings out: %d, want %d", n, tc.wantOut)
			}
			if tc.wantOut == 0 && !c.nothingPending() {
				t.Fatal("nothing is pending, but the connection may not park")
			}
		})
	}
}

// FuzzCoalescerRead: whatever a peer sends, yamux reads it unchanged
// but for the stream IDs of ours shifted back by idBase and the answers
// to our pings taken out, and no Read spans two frames.
func FuzzCoalescerRead(f *testing.F) {
	f.Add(append(yamuxFrame(yamuxTypeData, 1, 5, 3), 'a', 'b', 'c'), uint32(0), false, uint16(7))
	f.Add(slices.Concat(yamuxFrame(yamuxTypeWindowUpdate, 1, 8, 0), yamuxFrame(yamuxTypePing, 2, 0, ourPing|1),
		yamuxFrame(yamuxTypeData, 0, 10, 1), []byte{0}), uint32(6), false, uint16(1))
	f.Add(append(yamuxFrame(yamuxTypeData, 0, 3, 100), 1, 2), uint32(2), true, uint16(4096))
	f.Add([]byte{0, 9, 0}, uint32(0), true, uint16(0))
	f.Fuzz(func(t *testing.T, in []byte, idBase uint32, odd bool, readSize uint16) {
		if len(in) > 1<<16 {
			return
		}
		c := &frameCoalescer{idBase: idBase &^ 1}
		if odd {
			c.ourOdd = 1
		}
		want, ends := coalescerReadModel(c, in)
		a, b := noisePair(t)
		c.Conn = a
		go func() {
			b.Write(in)
			b.Close()
		}()
		a.SetReadDeadline(time.Now().Add(10 * time.Second))
		var got []byte
		next := 0 // ends[next]: the first frame end past what yamux has read
		buf := make([]byte, max(int(readSize)%4096, 1))
		for {
			n, err := c.Read(buf)
			for next < len(ends) && ends[next] <= len(got) {
				next++
			}
			if next < len(ends) && ends[next] < len(got)+n {
				t.Fatalf("a read of %d bytes at %d spans the frame end at %d", n, len(got), ends[next])
			}
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if string(got) != string(want) {
			t.Fatalf("yamux got\n%x\nwant\n%x", got, want)
		}
		if c.pingsOut.Load() < 0 {
			t.Fatalf("pings out: %d", c.pingsOut.Load())
		}
	})
}

// coalescerReadModel is what yamux should read of in through c, and
// where in that its frames end; a frame cut short by the end of in is
// handed on as far as its header is whole.
func coalescerReadModel(c *frameCoalescer, in []byte) (out []byte, ends []int) {
	for len(in) >= yamuxHeaderSize {
		h := slices.Clone(in[:yamuxHeaderSize])
		in = in[yamuxHeaderSize:]
		flags, id, length := binary.BigEndian.Uint16(h[2:]), binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
		if h[1] == yamuxTypePing && flags&yamuxFlagACK != 0 && length&(1<<31) != 0 {
			continue // the answer to one of our pings
		}
		ofOurs := id != 0 && id%2 == c.ourOdd
		if (h[1] == yamuxTypeData || h[1] == yamuxTypeWindowUpdate) && c.idBase != 0 && ofOurs {
			if id <= c.idBase {
				id = 0
			} else {
				id -= c.idBase
			}
			binary.BigEndian.PutUint32(h[4:], id)
		}
		out = append(out, h...)
		if h[1] == yamuxTypeData {
			n := min(int(length), len(in))
			out = append(out, in[:n]...)
			in = in[n:]
		}
		ends = append(ends, len(out))
	}
	return out, ends
}
