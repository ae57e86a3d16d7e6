package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/probe"
)

const probeUsage = `Usage: relayd probe [flags] RELAY_MULTIADDR [RELAY_MULTIADDR...]

Checks a relay end to end, as clients would: peer A (a fresh identity)
connects and reserves a slot, peer B connects and opens a circuit to A
through the relay, and the two echo bytes over it (Noise and yamux through
the circuit). The relay's announced limits are reported. Every
RELAY_MULTIADDR must end in /p2p/<relay peer ID> (the same relay); give its
TCP and its QUIC address to let --holepunch punch over both.

  --holepunch          after the echo, run DCUtR and report whether the
                       peers reached a direct connection, over which
                       transport, after how many attempts and how fast
  --role both|listener|dialer
                       split mode (default both, in one process): the
                       listener reserves and waits for one circuit; the
                       dialer (--target) connects to it. Run them behind
                       different NATs to test a relay's hole punching path
  --target PEER_ID     the listener to connect to (--role dialer)
  --listen MULTIADDR   the peers' listen addresses, repeatable (default
                       /ip4/0.0.0.0/tcp/0 and /ip4/0.0.0.0/udp/0/quic-v1)
  --json               one JSON report per probe on stdout
  --count N            probes to run (default 1; 0 = until interrupted)
  --interval D         pause between probes (default 30s)
  --metrics-listen ADDR
                       serve the results as Prometheus metrics
                       (relayd_probe_*) on http://ADDR/metrics
  --timeout D          bound on one probe (default 15s, 60s with
                       --holepunch or a --role)
  --bytes N            bytes to echo (default 1024)
  --punch-timeout D    bound on one DCUtR round's punch (default 10s)
  --tls-ca FILE        PEM certificates of the CAs to trust for /wss dials
                       instead of the system's roots (a private CA, a
                       staging ACME certificate)

Exit code 0 when every probe succeeded, 1 otherwise.
`

type probeFlags struct {
	holepunch bool
	role      string
	target    string
	listen    []string
	json      bool
	count     int
	interval  time.Duration
	metrics   string
	timeout   time.Duration
	bytes     int
	punch     time.Duration
	tlsCA     string
}

type multiFlag struct{ vals *[]string }

func (m multiFlag) String() string     { return "" }
func (m multiFlag) Set(v string) error { *m.vals = append(*m.vals, v); return nil }

func runProbe(ctx context.Context, args []string, stdout io.Writer) error {
	var f probeFlags
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&f.holepunch, "holepunch", false, "")
	fs.StringVar(&f.role, "role", "both", "")
	fs.StringVar(&f.target, "target", "", "")
	fs.Var(multiFlag{&f.listen}, "listen", "")
	fs.BoolVar(&f.json, "json", false, "")
	fs.IntVar(&f.count, "count", 1, "")
	fs.DurationVar(&f.interval, "interval", 30*time.Second, "")
	fs.StringVar(&f.metrics, "metrics-listen", "", "")
	fs.DurationVar(&f.timeout, "timeout", 0, "")
	fs.IntVar(&f.bytes, "bytes", 1024, "")
	fs.DurationVar(&f.punch, "punch-timeout", 0, "")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(stdout, probeUsage)
			return nil
		}
		return usageError{fmt.Errorf("probe: %w", err)}
	}
	opts, target, err := f.options(fs.Args())
	if err != nil {
		return usageError{fmt.Errorf("probe: %w", err)}
	}
	var m *probe.Metrics
	if f.metrics != "" {
		stop, mm, err := serveProbeMetrics(f.metrics)
		if err != nil {
			return fmt.Errorf("probe: metrics: %w", err)
		}
		defer stop()
		m = mm
	}
	failed := 0
	for i := 0; f.count == 0 || i < f.count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return probeExit(failed)
			case <-time.After(f.interval):
			}
		}
		pctx, cancel := context.WithTimeout(ctx, f.timeout)
		rep := runOneProbe(pctx, f, opts, target, stdout)
		cancel()
		if m != nil {
			m.Observe(rep)
		}
		printReport(stdout, rep, f.json)
		if !rep.OK {
			failed++
		}
		if ctx.Err() != nil {
			break
		}
	}
	return probeExit(failed)
}

func probeExit(failed int) error {
	if failed > 0 {
		return fmt.Errorf("probe: %d probe(s) failed", failed)
	}
	return nil
}

func (f *probeFlags) options(args []string) (probe.Options, identity.PeerID, error) {
	var o probe.Options
	if len(args) == 0 || f.bytes < 0 || f.count < 0 || f.interval < 0 || f.timeout < 0 || f.punch < 0 {
		return o, "", errors.New("want one or more RELAY_MULTIADDR (see relayd help probe)")
	}
	for _, s := range args {
		addr, id, err := splitPeerAddr(s)
		if err != nil {
			return o, "", err
		}
		if o.Peer.RelayID != "" && id != o.Peer.RelayID {
			return o, "", fmt.Errorf("addresses name two relays, %s and %s", o.Peer.RelayID, id)
		}
		o.Peer.RelayID = id
		o.Peer.Relay = append(o.Peer.Relay, addr)
	}
	for _, s := range f.listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return o, "", fmt.Errorf("--listen %q: %w", s, err)
		}
		o.Peer.Listen = append(o.Peer.Listen, a)
	}
	var target identity.PeerID
	switch f.role {
	case "both", "listener":
		if f.target != "" {
			return o, "", errors.New("--target is for --role dialer")
		}
	case "dialer":
		id, err := identity.Decode(f.target)
		if err != nil {
			return o, "", fmt.Errorf("--role dialer needs --target PEER_ID: %w", err)
		}
		target = id
	default:
		return o, "", fmt.Errorf("--role %q: want both, listener or dialer", f.role)
	}
	if f.timeout == 0 {
		f.timeout = 15 * time.Second
		if f.holepunch || f.role != "both" {
			f.timeout = time.Minute
		}
	}
	tc, err := clientTLS(f.tlsCA)
	if err != nil {
		return o, "", err
	}
	o.Peer.ClientTLS = tc
	o.EchoBytes, o.HolePunch = f.bytes, f.holepunch
	o.Peer.DCUtR.PunchTimeout = f.punch
	o.Peer.NoListen = !f.holepunch && len(f.listen) == 0
	if f.bytes == 0 {
		o.EchoBytes = 1
	}
	return o, target, nil
}

func runOneProbe(ctx context.Context, f probeFlags, o probe.Options, target identity.PeerID, stdout io.Writer) *probe.Report {
	switch f.role {
	case "listener":
		return probe.RunListener(ctx, o, func(id identity.PeerID) {
			if f.json {
				json.NewEncoder(stdout).Encode(map[string]string{"event": "ready", "peer": id.String()})
			} else {
				fmt.Fprintf(stdout, "listener ready: %s\n", id)
			}
		})
	case "dialer":
		return probe.RunDialer(ctx, o, target)
	}
	return probe.Run(ctx, o)
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

func printReport(w io.Writer, r *probe.Report, asJSON bool) {
	if asJSON {
		json.NewEncoder(w).Encode(r)
		return
	}
	step := func(name string, s *probe.Seconds) {
		if s != nil {
			fmt.Fprintf(w, "%-22s %v\n", name, s.Duration().Round(time.Microsecond))
		}
	}
	step("reserve", r.Reserve)
	if r.Reserve != nil {
		fmt.Fprintf(w, "  expires %s, limit %s\n", r.Expires.Format(time.RFC3339), limitText(r.Limit))
	}
	step("connect", r.Connect)
	if r.Connect != nil && r.Reserve == nil {
		fmt.Fprintf(w, "  limit %s\n", limitText(r.Limit))
	}
	step(fmt.Sprintf("echo %d bytes", r.EchoBytes), r.Echo)
	if hp := r.HolePunch; hp != nil {
		if hp.Direct {
			fmt.Fprintf(w, "%-22s yes, %s after %d attempt(s) in %v (to %s)\n", "direct connection", hp.Transport, hp.Attempts, hp.TimeToDirect.Duration().Round(time.Millisecond), hp.RemoteAddr)
		} else {
			fmt.Fprintf(w, "%-22s no, after %d attempt(s): %s\n", "direct connection", hp.Attempts, hp.Error)
		}
	}
	if r.OK {
		fmt.Fprintln(w, "ok")
	} else {
		fmt.Fprintf(w, "FAILED: %s\n", r.Error)
	}
}

func limitText(l *probe.LimitReport) string {
	if l == nil {
		return "none (unlimited)"
	}
	return fmt.Sprintf("%ds / %d bytes per direction", l.DurationSeconds, l.DataBytes)
}

// serveProbeMetrics serves a registry with the probe's collectors.
func serveProbeMetrics(addr string) (stop func(), m *probe.Metrics, err error) {
	reg := prometheus.NewRegistry()
	m = probe.NewMetrics(reg)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	return func() { srv.Close(); <-done }, m, nil
}
