package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
)

// sinkResult is what the throughput target received.
type sinkResult struct {
	n    int64
	last time.Time // when the last byte arrived
	err  error     // nil on a clean EOF
}

// benchThroughput sends cfg.bytes from src to a sink on dst through one
// circuit. The sink, not the sender, says when the bytes arrived, so
// the rate is end to end; and it says how many did, which tells a circuit
// the relay cut from one that finished.
func benchThroughput(ctx context.Context, cfg benchConfig, src, dst *host.Host) (*throughputPhase, error) {
	results := make(chan sinkResult, 1)
	dst.Handle(wire.ProtoStop, circuit.StopHandler(sinkHandler(ctx, results)))
	st, lim, err := circuit.Connect(ctx, src, cfg.relayID, dst.ID())
	if err != nil {
		return nil, err
	}
	defer st.Reset()
	defer boundStream(ctx, st)()
	start := time.Now()
	sent := make(chan error, 1)
	go func() { sent <- sendBytes(st, cfg.bytes) }()
	var r sinkResult
	select {
	case r = <-results:
	case <-ctx.Done():
		st.Reset()
		<-sent
		return nil, ctx.Err()
	}
	if r.n < cfg.bytes {
		st.Reset() // the sender may be blocked on a window the relay no longer drains
		<-sent
		return nil, cutError(r, cfg.bytes, lim, r.last.Sub(start))
	}
	if err := <-sent; err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	secs := r.last.Sub(start).Seconds()
	return &throughputPhase{Bytes: r.n, Seconds: secs, MiBPerSecond: float64(r.n) / (1 << 20) / secs}, nil
}

// sinkHandler reads a circuit to its end and reports what it got; a
// report nobody waits for is dropped.
func sinkHandler(ctx context.Context, results chan<- sinkResult) func(identity.PeerID, *wire.Limit, *host.Stream) {
	return func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		defer boundStream(ctx, s)()
		var r sinkResult
		buf := make([]byte, benchChunk)
		for {
			k, err := s.Read(buf)
			if k > 0 {
				r.n += int64(k)
				r.last = time.Now()
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					r.err = err
				}
				break
			}
		}
		select {
		case results <- r:
		default:
		}
	}
}

// sendBytes writes size random bytes, then half-closes st.
func sendBytes(st *host.Stream, size int64) error {
	buf := make([]byte, benchChunk)
	rand.Read(buf)
	for left := size; left > 0; {
		k, err := st.Write(buf[:min(left, int64(len(buf)))])
		if err != nil {
			return err
		}
		left -= int64(k)
	}
	return st.Close()
}

// cutError says why the sink got fewer bytes than were sent, naming the
// relay's cap when the circuit's Limit explains it.
func cutError(r sinkResult, size int64, lim *wire.Limit, took time.Duration) error {
	switch {
	case lim != nil && lim.Data > 0 && uint64(r.n) >= lim.Data:
		return fmt.Errorf("circuit cut after %d bytes: the relay's data cap; run it with --unlimited or --limit-data %d or more", r.n, size)
	case lim != nil && lim.Duration > 0 && took >= time.Duration(lim.Duration)*time.Second:
		return fmt.Errorf("circuit cut after %d bytes and %v: the relay's duration cap; run it with --unlimited or a longer --limit-duration", r.n, took.Round(time.Millisecond))
	case r.err != nil:
		return fmt.Errorf("circuit cut after %d of %d bytes: %w", r.n, size, r.err)
	}
	return fmt.Errorf("circuit cut after %d of %d bytes", r.n, size)
}
