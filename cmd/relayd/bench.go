package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/identity"
)

const benchUsage = `Usage: relayd bench [flags] RELAY_MULTIADDR

Load-tests a running relay, as many clients would, in three phases:

  reservations  N fresh identities connect and reserve, C at a time;
                reports reservations/s and connect+reserve latency. The
                clients stay connected (idle reservations) until the end,
                so the relay's memory can be read meanwhile (--hold).
  circuits      M circuits, one after another, between two of the clients:
                CONNECT, the stop exchange and a first 32-byte round trip.
  throughput    one circuit carries SIZE bytes one way; reports MiB/s. The
                relay must run with --unlimited or a --limit-data of at
                least SIZE, or it cuts the circuit.

RELAY_MULTIADDR must end in /p2p/<relay peer ID>; TCP, QUIC and WebSocket
addresses all work. The relay's quotas and request rates apply to the
benchmark: run it with --allow-cidrs <this machine's IP> (no per-IP
quotas, rates or circuit caps) and --conn-rate-per-ip 0 for large runs. Exit code 0 when every phase worked, 1 when one failed, 2
on bad usage.

  --reservations N   clients that connect and reserve (default 100)
  --concurrency C    reservations in flight at once (default 8)
  --hold DURATION    keep the reservations this long before the circuits
                     (default 0)
  --circuits M       circuit setups to time; 0 skips the phase (default 50)
  --bytes SIZE       bytes to send, plain or with KiB, MiB or GiB; 0 skips
                     the phase (default 64MiB)
  --timeout DURATION bound on the whole run (default 5m)
  --metrics URL      the relay's admin /metrics (e.g.
                     http://127.0.0.1:9494/metrics): read before the
                     reservations and again after --hold, and report the
                     relay's own RSS, CPU time, heap, stacks and goroutines
                     per reservation held; the divisor is the growth of its
                     relayd_reservations_active, so let the clients of an
                     earlier run leave first (default none)
  --json             print one JSON object instead of the table
  --tls-ca FILE      PEM certificates of the CAs to trust for /wss dials
                     instead of the system's roots (a private CA, a
                     staging ACME certificate)
`

// benchConfig is one run of `relayd bench`, validated.
type benchConfig struct {
	relay        string
	addr         ma.Multiaddr
	relayID      identity.PeerID
	reservations int
	concurrency  int
	hold         time.Duration
	circuits     int
	bytes        int64
	timeout      time.Duration
	metrics      string
	json         bool
	clientTLS    *tls.Config // --tls-ca; nil: the system's roots
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseBenchFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		io.WriteString(stdout, benchUsage)
		return nil
	}
	if err != nil {
		return usageError{fmt.Errorf("bench: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	rep, err := bench(ctx, cfg, stderr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("bench: %w (the --timeout of %v)", err, cfg.timeout)
		}
		return fmt.Errorf("bench: %w", err)
	}
	if cfg.json {
		return writeBenchJSON(stdout, rep)
	}
	return writeBenchTable(stdout, rep)
}

func parseBenchFlags(args []string) (benchConfig, error) {
	cfg := benchConfig{bytes: 64 << 20}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.IntVar(&cfg.reservations, "reservations", 100, "")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "")
	fs.DurationVar(&cfg.hold, "hold", 0, "")
	fs.IntVar(&cfg.circuits, "circuits", 50, "")
	fs.Var(sizeValue{&cfg.bytes}, "bytes", "")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "")
	fs.StringVar(&cfg.metrics, "metrics", "", "")
	fs.BoolVar(&cfg.json, "json", false, "")
	tlsCA := fs.String("tls-ca", "", "")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	if cfg.clientTLS, err = clientTLS(*tlsCA); err != nil {
		return cfg, err
	}
	if fs.NArg() != 1 {
		return cfg, errors.New("want one RELAY_MULTIADDR (see relayd help bench)")
	}
	if err := cfg.check(); err != nil {
		return cfg, err
	}
	cfg.relay = fs.Arg(0)
	cfg.addr, cfg.relayID, err = splitPeerAddr(cfg.relay)
	return cfg, err
}

// check rejects counts that cannot make a run. The circuits and the
// throughput circuit run between two of the reserved clients.
func (c benchConfig) check() error {
	switch {
	case c.reservations < 1:
		return errors.New("--reservations: want at least 1")
	case c.reservations < 2 && (c.circuits > 0 || c.bytes > 0):
		return errors.New("--reservations: want at least 2 for --circuits or --bytes (they run between two clients)")
	case c.concurrency < 1:
		return errors.New("--concurrency: want at least 1")
	case c.circuits < 0:
		return errors.New("--circuits: want 0 or more")
	case c.hold < 0:
		return errors.New("--hold: want 0 or more")
	case c.timeout <= 0:
		return errors.New("--timeout: want more than 0")
	case c.hold >= c.timeout:
		return fmt.Errorf("--hold %v: want less than --timeout (%v)", c.hold, c.timeout)
	case c.metrics != "":
		return checkMetricsURL(c.metrics)
	}
	return nil
}

// benchReport is what a run measured; a skipped phase is nil.
type benchReport struct {
	Relay        string           `json:"relay"`
	Reservations reservationPhase `json:"reservations"`
	Circuits     *circuitPhase    `json:"circuits,omitempty"`
	Throughput   *throughputPhase `json:"throughput,omitempty"`
	// RelayMemory is the relay's own account of the held reservations
	// (--metrics).
	RelayMemory *relayMemory `json:"relay_memory,omitempty"`
}

type reservationPhase struct {
	Count       int          `json:"count"`
	Concurrency int          `json:"concurrency"`
	Seconds     float64      `json:"seconds"`
	PerSecond   float64      `json:"per_second"`
	HeldSeconds float64      `json:"held_seconds"`
	Latency     latencyStats `json:"latency"`
}

type circuitPhase struct {
	Count   int          `json:"count"`
	Latency latencyStats `json:"latency"`
}

type throughputPhase struct {
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"`
	MiBPerSecond float64 `json:"mib_per_second"`
}

func writeBenchJSON(w io.Writer, rep *benchReport) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func writeBenchTable(w io.Writer, rep *benchReport) error {
	fmt.Fprintf(w, "relay %s\n\n", rep.Relay)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tcount\trate\tp50\tp90\tp99\tmax")
	r := rep.Reservations
	fmt.Fprintf(tw, "reservations\t%d\t%.1f/s\t%s\n", r.Count, r.PerSecond, latencyCells(r.Latency))
	if c := rep.Circuits; c != nil {
		fmt.Fprintf(tw, "circuits\t%d\t-\t%s\n", c.Count, latencyCells(c.Latency))
	}
	if t := rep.Throughput; t != nil {
		fmt.Fprintf(tw, "throughput\t%s\t%.1f MiB/s\t-\t-\t-\t-\n", formatSize(t.Bytes), t.MiBPerSecond)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.RelayMemory != nil {
		return writeRelayMemory(w, rep.RelayMemory)
	}
	return nil
}

func latencyCells(l latencyStats) string {
	ms := func(v float64) string { return fmt.Sprintf("%.2fms", v) }
	return ms(l.P50) + "\t" + ms(l.P90) + "\t" + ms(l.P99) + "\t" + ms(l.Max)
}
