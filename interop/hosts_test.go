package interop

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

const (
	// echoProto copies every byte back and closes its write side at EOF.
	echoProto = protocol.ID("/relayd-interop/echo/1.0.0")
	// sinkProto discards bytes and, at EOF, answers with their count
	// (uint64 big-endian).
	sinkProto = protocol.ID("/relayd-interop/sink/1.0.0")

	// streamTimeout bounds any single stream exchange in the scenarios.
	streamTimeout = 30 * time.Second
)

// stackOptions is the one wire stack every client uses, so both relay kinds
// are judged on TCP + Noise + yamux only.
func stackOptions() []libp2p.Option {
	return []libp2p.Option{
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableMetrics(),
	}
}

// newHost makes a go-libp2p client with the common stack; by default it
// has no listen address (a "private" node). The host is closed in t.Cleanup.
func newHost(t testing.TB, opts ...libp2p.Option) host.Host {
	t.Helper()
	// NoListenAddrs would also switch off the circuit transport unless
	// relay support is asked for explicitly first.
	all := append(stackOptions(), libp2p.EnableRelay(), libp2p.NoListenAddrs)
	h, err := libp2p.New(append(all, opts...)...)
	if err != nil {
		t.Fatalf("libp2p.New: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// newListeningHost is newHost listening on 127.0.0.1:0.
func newListeningHost(t testing.TB, opts ...libp2p.Option) host.Host {
	t.Helper()
	return newHost(t, append([]libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0")}, opts...)...)
}

// limitedCtx is a bounded context that allows limited (relayed) conns.
func limitedCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return network.WithAllowLimitedConn(ctx, "relayd-interop")
}

func handleEcho(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(streamTimeout))
	if _, err := io.Copy(s, s); err != nil {
		_ = s.Reset()
	}
}

func handleSink(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(2 * streamTimeout))
	n, err := io.Copy(io.Discard, s)
	if err != nil {
		_ = s.Reset()
		return
	}
	_ = binary.Write(s, binary.BigEndian, uint64(n))
}

// echoResult is the outcome of one echo exchange.
type echoResult struct {
	sent, echoed int
	writeErr     error
	readErr      error // nil means a clean EOF after everything was echoed
}

// echo writes payload on a new echoProto stream to p and reads back until
// EOF or error. It never returns before both directions are done or the
// stream deadline passed.
func echo(ctx context.Context, h host.Host, p peer.ID, payload []byte) (echoResult, error) {
	return pacedEcho(ctx, h, p, payload, 0)
}

// pacedEcho is echo with a pause after every chunk written.
func pacedEcho(ctx context.Context, h host.Host, p peer.ID, payload []byte, pace time.Duration) (echoResult, error) {
	s, err := h.NewStream(ctx, p, echoProto)
	if err != nil {
		return echoResult{}, fmt.Errorf("opening echo stream: %w", err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(streamTimeout))
	wrote := make(chan echoResult, 1)
	go func() {
		n, err := writeChunked(s, payload, pace)
		if err == nil {
			err = s.CloseWrite()
		}
		wrote <- echoResult{sent: n, writeErr: err}
	}()
	got, readErr := readAllCompare(s, payload)
	if readErr != nil || got < len(payload) {
		_ = s.Reset() // unblocks a writer stuck on a cut circuit
	}
	res := <-wrote
	res.echoed, res.readErr = got, readErr
	return res, nil
}

// writeChunk is the write size of echo: small writes become small Noise
// frames, so a relay that cuts a circuit at a byte cap cuts few bytes of
// an undecryptable partial frame (one 1 MiB Write would go out as ~64 KiB
// Noise frames, and a cut inside one loses all of it).
const writeChunk = 4 << 10

func writeChunked(w io.Writer, b []byte, pace time.Duration) (int, error) {
	n := 0
	for n < len(b) {
		k, err := w.Write(b[n:min(n+writeChunk, len(b))])
		n += k
		if err != nil {
			return n, err
		}
		if pace > 0 {
			time.Sleep(pace)
		}
	}
	return n, nil
}

// readAllCompare reads r to EOF, checking it is a prefix of want.
func readAllCompare(r io.Reader, want []byte) (int, error) {
	buf := make([]byte, 32<<10)
	n := 0
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if n+k > len(want) || string(buf[:k]) != string(want[n:n+k]) {
				return n, fmt.Errorf("echoed bytes differ from sent bytes at offset %d", n)
			}
			n += k
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// connsTo returns the open connections from h to p.
func connsTo(h host.Host, p peer.ID) []network.Conn {
	var open []network.Conn
	for _, c := range h.Network().ConnsToPeer(p) {
		if !c.IsClosed() {
			open = append(open, c)
		}
	}
	return open
}

// waitFor polls cond every 20 ms until it holds or d passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
