package host

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
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
