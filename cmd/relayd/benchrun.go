package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
)

// benchEchoSize is the first round trip of a timed circuit: enough to
// prove bytes flow both ways, small enough to time the setup, not the
// transfer.
const benchEchoSize = 32

// benchChunk is the write and read size of the throughput phase.
const benchChunk = 64 << 10

// bench runs the phases in order. Every client host it creates is closed
// before it returns; progress lines (the hold) go to progress.
func bench(ctx context.Context, cfg benchConfig, progress io.Writer) (*benchReport, error) {
	var before relaySample
	if cfg.metrics != "" {
		var err error
		if before, err = scrapeRelay(ctx, cfg.metrics); err != nil {
			return nil, fmt.Errorf("relay metrics: %w", err)
		}
	}
	clients, res, err := benchReservations(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("reservations: %w", withLimitHint(err))
	}
	defer closeHosts(clients)
	rep := &benchReport{Relay: cfg.relay, Reservations: *res}
	if err := holdReservations(ctx, cfg.hold, len(clients), progress); err != nil {
		return nil, err
	}
	rep.Reservations.HeldSeconds = cfg.hold.Seconds()
	if cfg.metrics != "" {
		if rep.RelayMemory, err = relayMemoryAfter(ctx, cfg.metrics, before, len(clients)); err != nil {
			return nil, fmt.Errorf("relay metrics: %w", err)
		}
	}
	if cfg.circuits > 0 {
		if rep.Circuits, err = benchCircuits(ctx, cfg, clients[1], clients[0]); err != nil {
			return nil, fmt.Errorf("circuits: %w", withLimitHint(err))
		}
	}
	if cfg.bytes > 0 {
		if rep.Throughput, err = benchThroughput(ctx, cfg, clients[0], clients[1]); err != nil {
			return nil, fmt.Errorf("throughput: %w", err)
		}
	}
	return rep, nil
}

// relayMemoryAfter scrapes the relay while the reservations are held and
// compares with before.
func relayMemoryAfter(ctx context.Context, url string, before relaySample, held int) (*relayMemory, error) {
	after, err := scrapeRelay(ctx, url)
	if err != nil {
		return nil, err
	}
	return newRelayMemory(url, before, after, held)
}

// withLimitHint explains the refusals a benchmark usually meets: a relay's
// per-IP quotas and rates are sized for real clients, not for one machine
// playing a hundred.
func withLimitHint(err error) error {
	var refused *circuit.StatusError
	var handshake *host.HandshakeError
	switch {
	case errors.As(err, &refused) && (refused.Status == wire.StatusReservationRefused || refused.Status == wire.StatusResourceLimitExceeded):
		return fmt.Errorf("%w (the relay's quotas or request rates; for a benchmark run it with --allow-cidrs <this machine's IP>)", err)
	case errors.As(err, &handshake):
		return fmt.Errorf("%w (the relay may be refusing connections; for a benchmark run it with --conn-rate-per-ip 0)", err)
	}
	return err
}

// benchReservations connects and reserves cfg.reservations fresh clients,
// cfg.concurrency at a time. On success the clients stay connected; on
// the first failure the others stop and every client is closed.
func benchReservations(ctx context.Context, cfg benchConfig) ([]*host.Host, *reservationPhase, error) {
	n := cfg.reservations
	clients := make([]*host.Host, n)
	lat := make([]time.Duration, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(cfg.concurrency, n) {
		wg.Go(func() {
			for i := range jobs {
				h, d, err := reservedClient(ctx, cfg)
				if err != nil {
					cancel(fmt.Errorf("client %d: %w", i+1, err))
					continue
				}
				clients[i], lat[i] = h, d
			}
		})
	}
	feedJobs(ctx, jobs, n)
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		closeHosts(clients)
		return nil, nil, err
	}
	return clients, &reservationPhase{
		Count:       n,
		Concurrency: min(cfg.concurrency, n),
		Seconds:     elapsed.Seconds(),
		PerSecond:   float64(n) / elapsed.Seconds(),
		Latency:     summarise(lat),
	}, nil
}

// feedJobs hands out 0..n-1 until done or ctx ends, then closes jobs.
func feedJobs(ctx context.Context, jobs chan<- int, n int) {
	defer close(jobs)
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			return
		}
	}
}

// reservedClient is a fresh identity connected to the relay and holding a
// reservation, and how long the connect and reserve took.
func reservedClient(ctx context.Context, cfg benchConfig) (*host.Host, time.Duration, error) {
	key, err := identity.GenerateKey()
	if err != nil {
		return nil, 0, err
	}
	transports, err := host.ClientTransports(key, cfg.clientTLS)
	if err != nil {
		return nil, 0, err
	}
	h, err := host.New(host.Config{Key: key, AgentVersion: "relayd-bench", Transports: transports})
	if err != nil {
		for _, tr := range transports {
			tr.Close()
		}
		return nil, 0, err
	}
	start := time.Now()
	if _, err := h.Dial(ctx, cfg.addr, cfg.relayID); err != nil {
		h.Close()
		return nil, 0, err
	}
	if _, err := circuit.Reserve(ctx, h, cfg.relayID); err != nil {
		h.Close()
		return nil, 0, err
	}
	return h, time.Since(start), nil
}

// closeHosts closes every non-nil host, in parallel: each Close waits for
// its connection's goroutines, and a hundred in a row add up.
func closeHosts(hs []*host.Host) {
	var wg sync.WaitGroup
	for _, h := range hs {
		if h != nil {
			wg.Go(func() { h.Close() })
		}
	}
	wg.Wait()
}

func holdReservations(ctx context.Context, d time.Duration, n int, progress io.Writer) error {
	if d <= 0 {
		return nil
	}
	fmt.Fprintf(progress, "relayd bench: holding %d reservations for %v\n", n, d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hold: %w", ctx.Err())
	}
}

// benchCircuits times cfg.circuits circuits from src to dst, one after
// another.
func benchCircuits(ctx context.Context, cfg benchConfig, src, dst *host.Host) (*circuitPhase, error) {
	dst.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		defer boundStream(ctx, s)()
		io.Copy(s, s)
	}))
	lat := make([]time.Duration, 0, cfg.circuits)
	for i := range cfg.circuits {
		d, err := timeCircuit(ctx, src, cfg.relayID, dst.ID())
		if err != nil {
			return nil, fmt.Errorf("circuit %d: %w", i+1, err)
		}
		lat = append(lat, d)
	}
	return &circuitPhase{Count: len(lat), Latency: summarise(lat)}, nil
}

// timeCircuit opens one circuit, echoes benchEchoSize bytes through it
// and returns how long that took; then it ends the circuit and waits for
// the relay to end it too, so circuits never pile up against the relay's
// per-peer cap.
func timeCircuit(ctx context.Context, src *host.Host, relay, dst identity.PeerID) (time.Duration, error) {
	msg := make([]byte, benchEchoSize)
	rand.Read(msg)
	start := time.Now()
	st, _, err := circuit.Connect(ctx, src, relay, dst)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	defer boundStream(ctx, st)()
	if _, err := st.Write(msg); err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	back := make([]byte, len(msg))
	if _, err := io.ReadFull(st, back); err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	d := time.Since(start)
	if !bytes.Equal(back, msg) {
		return 0, errors.New("echoed bytes differ")
	}
	st.Close()
	if _, err := io.Copy(io.Discard, st); err != nil {
		return 0, fmt.Errorf("closing: %w", err)
	}
	return d, nil
}

// boundStream ends s's I/O when ctx ends; call the result to stop that.
func boundStream(ctx context.Context, s *host.Stream) func() bool {
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	return context.AfterFunc(ctx, func() { s.SetDeadline(time.Unix(1, 0)) })
}
