package noise

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/relayd/relayd/internal/leakcheck"
)

// connPair returns an established client/server pair over net.Pipe.
func connPair(t testing.TB) (client, server *Conn, rawClient, rawServer net.Conn) {
	t.Helper()
	cc, sc := pipePair(t)
	r := handshakePair(t, cc, sc, side{key: newKey(t)}, side{key: newKey(t)}, "")
	if r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
	}
	return r.client, r.server, cc, sc
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// recordingConn records the size of every Write.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes []int
}

func (r *recordingConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, len(b))
	r.mu.Unlock()
	return r.Conn.Write(b)
}

func TestLargeWriteSmallReads(t *testing.T) {
	leakcheck.Check(t)
	c, s, _, _ := connPair(t)
	rec := &recordingConn{Conn: c.conn}
	c.conn = rec
	msg := randBytes(1 << 20)
	errc := make(chan error, 1)
	go func() {
		n, err := c.Write(msg)
		if err == nil && n != len(msg) {
			err = io.ErrShortWrite
		}
		errc <- err
	}()
	got := make([]byte, 0, len(msg))
	buf := make([]byte, 4096)
	for len(got) < len(msg) {
		n, err := s.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("data corrupted")
	}
	wantFrames := (len(msg) + maxPlaintext - 1) / maxPlaintext
	if len(rec.writes) != wantFrames {
		t.Fatalf("%d underlying writes, want one per frame (%d)", len(rec.writes), wantFrames)
	}
	for _, n := range rec.writes {
		if n > 2+maxFrame {
			t.Fatalf("frame of %d bytes", n)
		}
	}
	if s.rbuf != nil {
		t.Fatal("drained Conn still holds a frame buffer")
	}
}

func TestReadSizes(t *testing.T) {
	leakcheck.Check(t)
	c, s, _, _ := connPair(t)
	for _, size := range []int{1, 15, 16, 17, 4096, maxPlaintext, maxPlaintext + 1, 3*maxPlaintext + 7} {
		msg := randBytes(size)
		for _, chunk := range []int{1, 7, 4096, 1 << 20} {
			go c.Write(msg)
			got := make([]byte, 0, size)
			buf := make([]byte, chunk)
			for len(got) < size {
				n, err := s.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("size %d chunk %d: corrupted", size, chunk)
			}
		}
	}
}

func TestConcurrentReadWrite(t *testing.T) {
	leakcheck.Check(t)
	c, s, _, _ := connPair(t)
	const size = 1 << 20
	var wg sync.WaitGroup
	check := func(name string, w, r *Conn) {
		msg := randBytes(size)
		wg.Go(func() {
			for off := 0; off < size; off += 10000 {
				if _, err := w.Write(msg[off:min(size, off+10000)]); err != nil {
					t.Errorf("%s write: %v", name, err)
					return
				}
			}
		})
		wg.Go(func() {
			got := make([]byte, size)
			if _, err := io.ReadFull(r, got); err != nil {
				t.Errorf("%s read: %v", name, err)
				return
			}
			if !bytes.Equal(got, msg) {
				t.Errorf("%s: corrupted", name)
			}
		})
	}
	check("client->server", c, s)
	check("server->client", s, c)
	wg.Wait()
}

func TestZeroLengthReadWrite(t *testing.T) {
	c, s, _, _ := connPair(t)
	if n, err := c.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v", n, err)
	}
	if n, err := s.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
}

// An empty frame is legal and must not surface as a zero-byte read.
func TestEmptyFrameSkipped(t *testing.T) {
	leakcheck.Check(t)
	c, s, rawClient, _ := connPair(t)
	go func() {
		empty, _ := c.enc.Encrypt(nil, nil, nil)
		writeRawFrame(rawClient, empty)
		c.Write([]byte("x"))
	}()
	buf := make([]byte, 8)
	n, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "x" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

func TestReadEOF(t *testing.T) {
	leakcheck.Check(t)
	t.Run("clean", func(t *testing.T) {
		c, s, _, _ := connPair(t)
		c.Close()
		if _, err := s.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("got %v, want io.EOF", err)
		}
	})
	t.Run("mid-frame", func(t *testing.T) {
		_, s, rawClient, _ := connPair(t)
		go func() {
			rawClient.Write([]byte{0x00, 0x40, 1, 2, 3})
			rawClient.Close()
		}()
		if _, err := s.Read(make([]byte, 1)); err != io.ErrUnexpectedEOF {
			t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
		}
		if _, err := s.Read(make([]byte, 1)); err != io.ErrUnexpectedEOF {
			t.Fatalf("error not sticky: %v", err)
		}
	})
}

func TestTamperedFrame(t *testing.T) {
	leakcheck.Check(t)
	c, s, rawClient, _ := connPair(t)
	go func() {
		frame, _ := c.enc.Encrypt(nil, nil, []byte("secret"))
		frame[0] ^= 1
		writeRawFrame(rawClient, frame)
	}()
	if _, err := s.Read(make([]byte, 16)); err == nil {
		t.Fatal("tampered frame accepted")
	}
	if _, err := s.Read(make([]byte, 16)); err == nil {
		t.Fatal("decryption failure not sticky")
	}
	if s.rbuf != nil {
		t.Fatal("failed Conn still holds a frame buffer")
	}
}

// A read timeout mid-frame keeps what was read; Read resumes afterwards.
func TestReadTimeoutResumes(t *testing.T) {
	leakcheck.Check(t)
	c, s, rawClient, _ := connPair(t)
	frame, _ := c.enc.Encrypt(nil, nil, []byte("resumed"))
	var wire bytes.Buffer
	writeRawFrame(&wire, frame)
	b := wire.Bytes()
	buf := make([]byte, 16)
	for _, cut := range []int{1, 9} { // inside the length, inside the body
		s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		go rawClient.Write(b[:cut])
		if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("cut %d: got %v, want a timeout", cut, err)
		}
		b = b[cut:]
	}
	s.SetReadDeadline(time.Now().Add(testTimeout))
	go rawClient.Write(b)
	n, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "resumed" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

func TestWriteErrorIsSticky(t *testing.T) {
	leakcheck.Check(t)
	c, _, _, _ := connPair(t)
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	_, err := c.Write([]byte("x"))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	c.SetWriteDeadline(time.Time{})
	if _, err2 := c.Write([]byte("x")); err2 != err {
		t.Fatalf("second write: %v", err2)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	leakcheck.Check(t)
	_, s, _, _ := connPair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		errc <- err
	}()
	s.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("read succeeded on a closed conn")
		}
	case <-time.After(testTimeout):
		t.Fatal("Close did not unblock Read")
	}
}

// loopConn is an in-memory conn whose writes come back as reads, so the
// allocation count covers only Conn's own work.
type loopConn struct {
	net.Conn
	buf bytes.Buffer
}

func (l *loopConn) Write(b []byte) (int, error) { return l.buf.Write(b) }
func (l *loopConn) Read(b []byte) (int, error)  { return l.buf.Read(b) }

func TestSteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	c, s, _, _ := connPair(t)
	loop := &loopConn{}
	loop.buf.Grow(2 * frameBufSize)
	c.conn, s.conn = loop, loop
	msg, got := randBytes(4096), make([]byte, 4096)
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, got); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	if allocs := testing.AllocsPerRun(200, roundTrip); allocs != 0 {
		t.Fatalf("%v allocations per 4 KiB Write+Read, want 0", allocs)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("corrupted")
	}
}

func BenchmarkThroughput(b *testing.B) {
	for _, tc := range []struct {
		name  string
		conns func(testing.TB) (net.Conn, net.Conn)
		chunk int
	}{
		{"pipe/4KiB", pipePair, 4 << 10},
		{"pipe/64KiB", pipePair, 64 << 10},
		{"tcp/4KiB", tcpPair, 4 << 10},
		{"tcp/64KiB", tcpPair, 64 << 10},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cc, sc := tc.conns(b)
			r := handshakePair(b, cc, sc, side{key: newKey(b)}, side{key: newKey(b)}, "")
			if r.clientErr != nil || r.serverErr != nil {
				b.Fatal(r.clientErr, r.serverErr)
			}
			msg := randBytes(tc.chunk)
			done := make(chan error, 1)
			b.SetBytes(int64(tc.chunk))
			b.ResetTimer()
			go func() {
				buf := make([]byte, tc.chunk)
				_, err := io.CopyBuffer(io.Discard, io.LimitReader(r.server, int64(b.N)*int64(tc.chunk)), buf)
				done <- err
			}()
			for range b.N {
				if _, err := r.client.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)*float64(tc.chunk)/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
		})
	}
}

func TestWriteWithHeader(t *testing.T) {
	leakcheck.Check(t)
	for _, size := range []int{0, 1, 4096, maxPlaintext - 12, maxPlaintext, 3*maxPlaintext + 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			a, b, _, _ := connPair(t)
			hdr := []byte("0123456789ab")
			body := make([]byte, size)
			rand.Read(body)
			errc := make(chan error, 1)
			go func() {
				n, err := a.WriteWithHeader(hdr, body)
				if err == nil && n != len(body) {
					err = fmt.Errorf("wrote %d of %d", n, len(body))
				}
				errc <- err
			}()
			got := make([]byte, len(hdr)+size)
			if _, err := io.ReadFull(b, got); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append(hdr, body...)) {
				t.Fatal("bytes differ")
			}
		})
	}
}

// countingLoop is a loopConn that counts Read calls: the syscalls a
// socket would see.
type countingLoop struct {
	loopConn
	reads int
}

func (l *countingLoop) Read(b []byte) (int, error) { l.reads++; return l.loopConn.Read(b) }

// TestOneReadPerFrame checks the read-ahead of the next frame's length:
// with frames already waiting, each costs one underlying Read, not two
// (length, then body), and once all are delivered the Conn holds no
// pooled buffer.
func TestOneReadPerFrame(t *testing.T) {
	c, s, _, _ := connPair(t)
	loop := &countingLoop{}
	c.conn, s.conn = loop, loop
	sizes := []int{1, 4096, maxPlaintext, 100, maxPlaintext - 12, 0, 7}
	var want []byte
	for _, n := range sizes {
		msg := randBytes(n)
		want = append(want, msg...)
		if n == 0 {
			// An empty frame (Write skips empty writes).
			frame, _ := c.enc.Encrypt(make([]byte, 2), nil, nil)
			binary.BigEndian.PutUint16(frame, uint16(len(frame)-2))
			loop.Write(frame)
			continue
		}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
	// One Read for the first length, then one per frame; the last one
	// finds nothing beyond its frame.
	if max := len(sizes) + 1; loop.reads > max {
		t.Errorf("%d underlying Reads for %d frames, want at most %d", loop.reads, len(sizes), max)
	}
	if s.rbuf != nil {
		t.Error("a Conn with nothing left to deliver holds a pooled buffer")
	}
}

// TestReadTimeoutInReadAhead cuts the stream after a frame and one byte of
// the next frame's length: the first frame is delivered, the next Read
// times out holding no buffer, and resumes.
func TestReadTimeoutInReadAhead(t *testing.T) {
	leakcheck.Check(t)
	c, s, rawClient, _ := connPair(t)
	var wire bytes.Buffer
	for _, m := range []string{"first", "second"} {
		frame, _ := c.enc.Encrypt(nil, nil, []byte(m))
		writeRawFrame(&wire, frame)
	}
	b := wire.Bytes()
	cut := 2 + len("first") + tagSize + 1
	buf := make([]byte, 16)
	go rawClient.Write(b[:cut])
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "first" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if s.rbuf != nil {
		t.Error("a Conn waiting for a frame's length holds a pooled buffer")
	}
	s.SetReadDeadline(time.Now().Add(testTimeout))
	go rawClient.Write(b[cut:])
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "second" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}
