package noise

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"testing"
)

// BenchmarkHandshake is one full XX handshake, both sides in this process
// over net.Pipe: about twice one side's CPU cost.
func BenchmarkHandshake(b *testing.B) {
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	_, ck, _ := ed25519.GenerateKey(rand.Reader)
	srv, err := NewIdentity(sk)
	if err != nil {
		b.Fatal(err)
	}
	cli, err := NewIdentity(ck)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for range b.N {
		c, s := net.Pipe()
		done := make(chan error, 1)
		go func() {
			_, err := srv.Server(ctx, s, nil)
			done <- err
		}()
		if _, err := cli.Client(ctx, c, "", nil); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		c.Close()
		s.Close()
	}
}
