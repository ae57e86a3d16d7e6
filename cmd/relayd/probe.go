package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
)

const probeUsage = `Usage: relayd probe [--timeout 15s] [--bytes 1024] RELAY_MULTIADDR

Checks a relay end to end, as a client would: peer A (a fresh identity)
connects and reserves a slot, peer B connects and opens a circuit to A
through the relay, and B echoes bytes through it. Prints each step's
latency. RELAY_MULTIADDR must end in /p2p/<relay peer ID>. Exit code 0 when
every step worked, 1 otherwise.
`

func runProbe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", 15*time.Second, "bound on the whole probe")
	size := fs.Int("bytes", 1024, "bytes to echo through the circuit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(stdout, probeUsage)
			return nil
		}
		return usageError{fmt.Errorf("probe: %w", err)}
	}
	if fs.NArg() != 1 || *size < 0 || *timeout <= 0 {
		return usageError{errors.New("probe: want one RELAY_MULTIADDR (see relayd help probe)")}
	}
	addr, relayID, err := splitPeerAddr(fs.Arg(0))
	if err != nil {
		return usageError{fmt.Errorf("probe: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return probe(ctx, addr, relayID, *size, stdout)
}

// splitPeerAddr splits /.../p2p/<id> into the transport address and the ID.
func splitPeerAddr(s string) (ma.Multiaddr, identity.PeerID, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, "", fmt.Errorf("invalid multiaddr %q: %w", s, err)
	}
	rest, last := ma.SplitLast(a)
	if last == nil || last.Code() != ma.P_P2P {
		return nil, "", fmt.Errorf("multiaddr %q does not end in /p2p/<relay peer ID>", s)
	}
	id, err := identity.Decode(last.Value())
	if err != nil {
		return nil, "", fmt.Errorf("multiaddr %q: %w", s, err)
	}
	return rest, id, nil
}

func probe(ctx context.Context, addr ma.Multiaddr, relayID identity.PeerID, size int, out io.Writer) error {
	step := func(name string, start time.Time) {
		fmt.Fprintf(out, "%-22s %v\n", name, time.Since(start).Round(time.Microsecond))
	}
	a, err := probeHost(ctx, addr, relayID)
	if err != nil {
		return fmt.Errorf("probe: peer A: %w", err)
	}
	defer a.Close()
	got := make(chan echoed, 1)
	a.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		got <- echoAndHash(s)
	}))
	start := time.Now()
	info, err := circuit.Reserve(ctx, a, relayID)
	if err != nil {
		return fmt.Errorf("probe: reserve: %w", err)
	}
	step("reserve", start)
	fmt.Fprintf(out, "  expires %s, limit %s, %d address(es)\n", info.Expire.UTC().Format(time.RFC3339), limitText(info.Limit), len(info.Addrs))
	b, err := probeHost(ctx, addr, relayID)
	if err != nil {
		return fmt.Errorf("probe: peer B: %w", err)
	}
	defer b.Close()
	start = time.Now()
	st, _, err := circuit.Connect(ctx, b, relayID, a.ID())
	if err != nil {
		return fmt.Errorf("probe: connect: %w", err)
	}
	defer st.Close()
	step("connect", start)
	start = time.Now()
	sum, err := echoThrough(ctx, st, size)
	if err != nil {
		return fmt.Errorf("probe: echo: %w", err)
	}
	// B's half-close ends A's echo; A's account of what reached it shows
	// the echo came from A through the circuit, not from the relay.
	st.Close()
	select {
	case e := <-got:
		if err := e.check(size, sum); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("probe: waiting for peer A: %w", ctx.Err())
	}
	step(fmt.Sprintf("echo %d bytes", size), start)
	return nil
}

// echoed is what peer A's stop handler saw: the bytes it echoed, counted
// and hashed, and how its echo ended.
type echoed struct {
	n   int64
	sum [sha256.Size]byte
	err error
}

// check compares A's account with what B sent.
func (e echoed) check(size int, sum [sha256.Size]byte) error {
	switch {
	case e.err != nil:
		return fmt.Errorf("peer A's echo: %w", e.err)
	case e.n != int64(size):
		return fmt.Errorf("peer A received %d bytes, B sent %d", e.n, size)
	case e.sum != sum:
		return fmt.Errorf("peer A received %d bytes that differ from those B sent", e.n)
	}
	return nil
}

func echoAndHash(s *host.Stream) echoed {
	h := sha256.New()
	n, err := io.Copy(s, io.TeeReader(s, h))
	var e echoed
	e.n, e.err = n, err
	h.Sum(e.sum[:0])
	return e
}

// probeHost is a fresh client identity connected to the relay.
func probeHost(ctx context.Context, addr ma.Multiaddr, relayID identity.PeerID) (*host.Host, error) {
	key, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	h, err := host.New(host.Config{Key: key, AgentVersion: "relayd-probe"})
	if err != nil {
		return nil, err
	}
	if _, err := h.Dial(ctx, addr, relayID); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// echoThrough sends size random bytes on st, checks that the same bytes
// come back, and returns their SHA-256.
func echoThrough(ctx context.Context, st *host.Stream, size int) ([sha256.Size]byte, error) {
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	msg := make([]byte, size)
	rand.Read(msg)
	sum := sha256.Sum256(msg)
	errc := make(chan error, 1)
	go func() {
		_, err := st.Write(msg)
		errc <- err
	}()
	back := make([]byte, size)
	if _, err := io.ReadFull(st, back); err != nil {
		return sum, err
	}
	if err := <-errc; err != nil {
		return sum, err
	}
	if !bytes.Equal(back, msg) {
		return sum, errors.New("echoed bytes differ")
	}
	return sum, nil
}

func limitText(l *wire.Limit) string {
	if l == nil {
		return "none (unlimited)"
	}
	return fmt.Sprintf("%ds / %d bytes per direction", l.Duration, l.Data)
}
