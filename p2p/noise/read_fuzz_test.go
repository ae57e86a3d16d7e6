package noise

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
)

// scriptedConn hands out wire bytes in the pieces a script says, with
// timeouts in between, then io.EOF: every way a socket can split frames.
type scriptedConn struct {
	net.Conn
	wire     []byte
	cuts     []byte
	i        int
	timeouts bool
	timedOut bool // the last Read timed out: the next one delivers
}

func (c *scriptedConn) Read(p []byte) (int, error) {
	if len(c.wire) == 0 {
		return 0, io.EOF
	}
	cut := 1
	if len(c.cuts) > 0 {
		b := c.cuts[c.i%len(c.cuts)]
		c.i++
		if c.timeouts && b%5 == 0 && !c.timedOut {
			c.timedOut = true
			return 0, os.ErrDeadlineExceeded
		}
		c.timedOut = false
		cut = int(b)*int(b)*2 + 1 // 1 byte up to about two frames
	}
	n := copy(p[:min(len(p), cut)], c.wire)
	c.wire = c.wire[n:]
	return n, nil
}

// FuzzReadFrames feeds frames of fuzzed sizes (empty and largest
// included) split at fuzzed places, with timeouts, through Read in
// fuzzed read sizes, and checks every byte arrives once, in order, and
// that a Conn with nothing left holds no pooled buffer.
func FuzzReadFrames(f *testing.F) {
	f.Add([]byte{1, 255, 0, 40}, []byte{0, 1, 200, 3}, false, []byte{7})
	f.Add([]byte{255, 255, 255}, []byte{255, 181, 2}, true, []byte{255, 1})
	f.Add([]byte{10, 10, 10, 10, 10, 10}, []byte{181}, false, []byte{200})
	f.Fuzz(func(t *testing.T, sizes, cuts []byte, timeouts bool, readSizes []byte) {
		if len(sizes) > 8 {
			sizes = sizes[:8]
		}
		c, s, _, _ := connPair(t)
		var wire, want bytes.Buffer
		for _, b := range sizes {
			n := int(b) * int(b)
			if b == 255 {
				n = maxPlaintext
			}
			msg := randBytes(n)
			want.Write(msg)
			frame, err := c.enc.Encrypt(make([]byte, 2), nil, msg)
			if err != nil {
				t.Fatal(err)
			}
			binary.BigEndian.PutUint16(frame, uint16(len(frame)-2))
			wire.Write(frame)
		}
		s.conn = &scriptedConn{wire: wire.Bytes(), cuts: cuts, timeouts: timeouts}
		var got bytes.Buffer
		for i := 0; ; i++ {
			size := 1 << 16
			if len(readSizes) > 0 {
				size = int(readSizes[i%len(readSizes)])*300 + 1
			}
			buf := make([]byte, size)
			n, err := s.Read(buf)
			got.Write(buf[:n])
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after %d of %d bytes: %v", got.Len(), want.Len(), err)
			}
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("got %d bytes, want %d, or they differ", got.Len(), want.Len())
		}
		if s.rbuf != nil {
			t.Fatal("a Conn at EOF holds a pooled buffer")
		}
	})
}
