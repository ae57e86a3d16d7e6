// Command refrelay is the reference relay of the interop suite: go-libp2p's
// own circuitv2 relay behind the same command line and the same JSON log
// lines as relayd, so the tests in interop/ can judge both binaries with one
// harness.
//
// It deliberately takes relayd's flag names and meanings (zero = go-libp2p
// default) so a scenario written once runs against either. The host is made
// as close to relayd's wire stack as go-libp2p allows: TCP, QUIC
// (/udp/.../quic-v1) and WebSockets (/ws, and /wss or /tls/ws with
// --tls-cert and --tls-key) only, Noise only, yamux only; a resource manager with infinite limits and no connection
// manager, so neither bounds the comparison. Per-IP and per-ASN reservation
// caps are set to --max-reservations because every test client shares
// 127.0.0.1.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
)

// agentVersion names this binary in identify, so a log or a test can tell
// the reference from relayd ("relayd/...").
const agentVersion = "refrelay/go-libp2p-v0.51.0"

// errUsage marks command-line mistakes (exit code 2, as relayd does).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "refrelay:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// options mirrors the relayd serve flags that the interop suite uses.
type options struct {
	identity       string
	listen         listFlag
	tlsCert        string
	tlsKey         string
	logFormat      string
	logLevel       string
	unlimited      bool
	limitData      int64
	limitDuration  time.Duration
	reservationTTL time.Duration
	maxRsvp        int
	maxCircuits    int
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	var o options
	fs := flag.NewFlagSet("refrelay serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.identity, "identity", "", "private key file (libp2p PrivateKey protobuf); created if absent")
	fs.Var(&o.listen, "listen", "listen multiaddr (repeatable; default /ip4/127.0.0.1/tcp/0)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate chain for /wss (or /tls/ws) listeners")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(new(string), "admin-listen", "", "accepted for parity with relayd; refrelay has no admin endpoint")
	fs.StringVar(&o.logFormat, "log-format", "json", "only json is supported")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&o.unlimited, "unlimited", false, "send no Limit: circuits are unlimited")
	fs.Int64Var(&o.limitData, "limit-data", 0, "bytes per direction per circuit (0 = go-libp2p default 131072)")
	fs.DurationVar(&o.limitDuration, "limit-duration", 0, "circuit duration cap (0 = go-libp2p default 2m)")
	fs.DurationVar(&o.reservationTTL, "reservation-ttl", 0, "reservation lifetime (0 = go-libp2p default 1h)")
	fs.IntVar(&o.maxRsvp, "max-reservations", 0, "live reservations (0 = go-libp2p default 128)")
	fs.IntVar(&o.maxCircuits, "max-circuits-per-peer", 0, "open circuits per peer (0 = go-libp2p default 16)")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if o.identity == "" {
		return o, fmt.Errorf("%w: --identity is required", errUsage)
	}
	if o.logFormat != "json" {
		return o, fmt.Errorf("%w: --log-format %q: only json is supported", errUsage, o.logFormat)
	}
	if len(o.listen) == 0 {
		o.listen = listFlag{"/ip4/127.0.0.1/tcp/0"}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %w", errUsage, err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	key, err := loadOrCreateKey(o.identity)
	if err != nil {
		return err
	}
	tlsConf, err := loadTLS(o.tlsCert, o.tlsKey)
	if err != nil {
		return err
	}
	h, err := newHost(key, o.listen, tlsConf)
	if err != nil {
		return err
	}
	defer h.Close()
	r, err := relay.New(h, relayOptions(o)...)
	if err != nil {
		return fmt.Errorf("starting relay service: %w", err)
	}
	defer r.Close()
	announce(logger, h)
	<-ctx.Done()
	logger.Info("shutting down")
	return nil
}

// loadTLS reads the WSS certificate; nil when none is configured (a /wss
// listener then fails in go-libp2p with "without a tls.Config").
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

func newHost(key crypto.PrivKey, listen []string, tlsConf *tls.Config) (host.Host, error) {
	limiter := rcmgr.NewFixedLimiter(rcmgr.InfiniteLimits)
	rm, err := rcmgr.NewResourceManager(limiter)
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Transport(websocket.New, websocket.WithTLSConfig(tlsConf)),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ForceReachabilityPublic(),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(&connmgr.NullConnMgr{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent(agentVersion),
	)
	if err != nil {
		return nil, fmt.Errorf("libp2p host: %w", err)
	}
	return h, nil
}

func relayOptions(o options) []relay.Option {
	rc := relay.DefaultResources()
	if o.reservationTTL > 0 {
		rc.ReservationTTL = o.reservationTTL
	}
	if o.maxRsvp > 0 {
		rc.MaxReservations = o.maxRsvp
	}
	// All interop clients share 127.0.0.1; only the total cap is modelled.
	rc.MaxReservationsPerIP = rc.MaxReservations
	rc.MaxReservationsPerASN = rc.MaxReservations
	if o.maxCircuits > 0 {
		rc.MaxCircuits = o.maxCircuits
	}
	if o.limitData > 0 {
		rc.Limit.Data = o.limitData
	}
	if o.limitDuration > 0 {
		rc.Limit.Duration = o.limitDuration
	}
	opts := []relay.Option{
		relay.WithResources(rc),
		// The default filter keeps only public addrs, which on loopback
		// would send an empty list; relayd must send its real addrs.
		relay.WithReservationAddressFilter(func(ma.Multiaddr) bool { return true }),
	}
	if o.unlimited {
		opts = append(opts, relay.WithInfiniteLimits())
	}
	return opts
}

// announce writes the log lines the harness waits for, in relayd's format.
func announce(logger *slog.Logger, h host.Host) {
	self, err := ma.NewComponent("p2p", h.ID().String())
	if err != nil {
		logger.Error("p2p component", "err", err)
		return
	}
	for _, a := range h.Network().ListenAddresses() {
		logger.Info("listening", "addr", a.Encapsulate(self).String())
	}
	logger.Info("relayd started", "peer", h.ID().String())
}

// loadOrCreateKey reads a libp2p PrivateKey protobuf, or writes a new
// Ed25519 one (0600) when the file does not exist.
func loadOrCreateKey(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("identity %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("identity: %w", err)
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, fmt.Errorf("identity: generating key: %w", err)
	}
	b, err = crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return key, nil
}
