package pbio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// oneByteReader hides any io.ByteReader so the slow path is exercised.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// readers returns the ways a test reads the same bytes: the byte-by-byte
// path, the io.ByteReader path and a reader that returns one byte per call.
func readers(b []byte) map[string]io.Reader {
	return map[string]io.Reader{
		"plain":      oneByteReader{bytes.NewReader(b)},
		"bytereader": bufio.NewReader(bytes.NewReader(b)),
		"onebyte":    iotest.OneByteReader(bytes.NewReader(b)),
	}
}

func TestReadDelimited(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 300)
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		{"empty message", []byte{0x00}, 10, []byte{}, nil},
		{"short", []byte{0x03, 'a', 'b', 'c'}, 10, []byte("abc"), nil},
		{"exactly max", []byte{0x03, 'a', 'b', 'c'}, 3, []byte("abc"), nil},
		{"two-byte prefix", append([]byte{0xac, 0x02}, long...), 300, long, nil},
		{"over max", []byte{0x04, 'a', 'b', 'c', 'd'}, 3, nil, ErrTooLarge},
		{"over max two-byte prefix", []byte{0xac, 0x02}, 299, nil, ErrTooLarge},
		{"huge prefix refused early", []byte{0xff, 0xff, 0xff}, 4096, nil, ErrTooLarge},
		{"negative max", []byte{0x01, 'a'}, -1, nil, ErrTooLarge},
		{"negative max counts as zero", []byte{0x00}, -41, []byte{}, nil},
		{"non-minimal prefix", []byte{0x83, 0x00, 'a', 'b', 'c'}, 10, nil, ErrMalformedLength},
		{"non-minimal zero", []byte{0x80, 0x00}, 10, nil, ErrMalformedLength},
		{"ten-byte prefix", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 1 << 62, nil, ErrMalformedLength},
		{"eof before any byte", nil, 10, nil, io.EOF},
		{"eof inside prefix", []byte{0x80}, 10, nil, io.ErrUnexpectedEOF},
		{"eof inside body", []byte{0x03, 'a'}, 10, nil, io.ErrUnexpectedEOF},
		{"eof before body", []byte{0x03}, 10, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for rname, r := range readers(tt.in) {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				got, err := ReadDelimited(r, tt.max)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == io.EOF && err != io.EOF {
					t.Fatalf("err = %#v, want bare io.EOF", err)
				}
				if err == nil && !bytes.Equal(got, tt.want) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			})
		}
	}
}

// TestReadDelimitedLeavesRest checks the property the relay depends on: bytes
// after the message stay in the stream for the next reader.
func TestReadDelimitedLeavesRest(t *testing.T) {
	in := AppendDelimited(nil, []byte("hop"))
	in = AppendDelimited(in, []byte("second"))
	in = append(in, "raw splice bytes"...)
	for rname, r := range readers(in) {
		t.Run(rname, func(t *testing.T) {
			for _, want := range []string{"hop", "second"} {
				got, err := ReadDelimited(r, 100)
				if err != nil || string(got) != want {
					t.Fatalf("ReadDelimited = %q, %v; want %q", got, err, want)
				}
			}
			rest, err := io.ReadAll(r)
			if err != nil || string(rest) != "raw splice bytes" {
				t.Fatalf("rest = %q, %v", rest, err)
			}
		})
	}
}

// TestReadDelimitedTooLargeAllocatesNothing checks the cap is applied before
// the body buffer is allocated: ten refused 1 MiB messages must not cost
// anything near 1 MiB.
func TestReadDelimitedTooLargeAllocatesNothing(t *testing.T) {
	in := AppendDelimited(nil, make([]byte, 1<<20))[:4]
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := ReadDelimited(bytes.NewReader(in), 4096); !errors.Is(err, ErrTooLarge) {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("refusing 10 oversize messages allocated %d bytes", n)
	}
}

func TestTruncationsFail(t *testing.T) {
	msgs := [][]byte{{}, []byte("x"), bytes.Repeat([]byte("y"), 200), make([]byte, 5000)}
	for _, msg := range msgs {
		full := AppendDelimited(nil, msg)
		for i := range full {
			_, err := ReadDelimited(bytes.NewReader(full[:i]), 8192)
			want := io.ErrUnexpectedEOF
			if i == 0 {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Fatalf("len %d truncated to %d: err = %v, want %v", len(msg), i, err, want)
			}
		}
	}
}

func TestAppendDelimited(t *testing.T) {
	tests := []struct {
		n          int
		wantPrefix []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{300, []byte{0xac, 0x02}},
		{4096, []byte{0x80, 0x20}},
		{16384, []byte{0x80, 0x80, 0x01}},
	}
	for _, tt := range tests {
		got := AppendDelimited([]byte("pre"), make([]byte, tt.n))
		want := append(append([]byte("pre"), tt.wantPrefix...), make([]byte, tt.n)...)
		if !bytes.Equal(got, want) {
			t.Errorf("n=%d: prefix % x, want % x", tt.n, got[3:3+len(tt.wantPrefix)], tt.wantPrefix)
		}
	}
}

// countingWriter records each Write call separately.
type countingWriter struct{ writes [][]byte }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestWriteDelimited(t *testing.T) {
	var w countingWriter
	if err := WriteDelimited(&w, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 1 || !bytes.Equal(w.writes[0], []byte("\x05hello")) {
		t.Fatalf("writes = %q, want one write of \\x05hello", w.writes)
	}
	if err := WriteDelimited(shortWriter{}, []byte("hello")); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write: err = %v", err)
	}
	if err := WriteDelimited(errWriter{}, []byte("x")); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing writer: err = %v", err)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("boom") }

func FuzzReadDelimited(f *testing.F) {
	for _, msg := range []string{"", "a", "/multistream/1.0.0\n", strings.Repeat("z", 300)} {
		f.Add(AppendDelimited(nil, []byte(msg)), 4096)
	}
	f.Add([]byte{0x80, 0x00}, 10)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 1<<30)
	f.Fuzz(func(t *testing.T, in []byte, maxLen int) {
		maxLen %= 1 << 16 // keep allocations small; the cap logic is what matters
		for rname, r := range readers(in) {
			msg, err := ReadDelimited(r, maxLen)
			if err != nil {
				continue
			}
			if len(msg) > max(maxLen, 0) {
				t.Fatalf("%s: %d-byte message over max %d", rname, len(msg), maxLen)
			}
			// A successfully read message re-encodes to exactly the bytes
			// consumed (the prefix is minimal), and nothing more was read.
			enc := AppendDelimited(nil, msg)
			if !bytes.HasPrefix(in, enc) {
				t.Fatalf("%s: re-encoding % x is not a prefix of input % x", rname, enc, in)
			}
			rest, _ := io.ReadAll(r)
			if !bytes.Equal(rest, in[len(enc):]) {
				t.Fatalf("%s: read past the message", rname)
			}
		}
	})
}
