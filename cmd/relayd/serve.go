package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayd/relayd/metrics"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport/ws"
	"github.com/relayd/relayd/relay"
)

// serve runs the relay until ctx is cancelled (the first SIGTERM or
// SIGINT), then drains it for at most cfg.DrainTimeout and closes it. A
// second signal is main's business: it exits at once. SIGHUP reloads the
// limits through reload.
func serve(ctx context.Context, cfg Config, logger *slog.Logger, reload loader) error {
	defer applyMemoryLimit(cfg.MemoryLimitPercent, os.Getenv, "/", logger)()
	key, created, err := identity.LoadOrCreateKeyFile(cfg.Identity)
	if err != nil {
		return err
	}
	id := identity.PeerIDOf(key)
	if created {
		logger.Info("created identity", "file", cfg.Identity, "peer", id)
	}
	rcfg, err := relayConfig(cfg, key, id, logger)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	v, c := buildVersion()
	metrics.RegisterRuntime(reg, v, c)
	rcfg.Metrics = reg
	var r *relay.Relay
	rdb, err := acmeRedis(cfg)
	if err != nil {
		return err
	}
	if rdb != nil {
		defer rdb.Close()
	}
	acme, err := newACME(cfg, reg, logger, rdb, func(names []string) { r.AnnounceTLSNames(names) })
	if err != nil {
		return err
	}
	if acme != nil {
		defer acme.Close()
		rcfg.TLSConfig = acme.TLSConfig()
	}
	r, err = relay.New(rcfg)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := startACME(acme, r); err != nil {
		return err
	}
	stopAdmin, err := startAdmin(cfg, reg, r, acmeStatus(acme), logger)
	if err != nil {
		return err
	}
	defer stopAdmin()
	stopReload := watchReload(r, cfg, reload, logger)
	defer stopReload()
	logAddrs(logger, r)
	logger.Info("relayd started", "peer", id.String())
	if err := r.Serve(ctx); err != nil {
		return err
	}
	drain(r, cfg.DrainTimeout, logger)
	r.Close()
	logger.Info("stopped")
	return nil
}

// drain lets open circuits end by themselves for at most timeout. Running
// out of time is not a failure: long circuits are expected, and Close ends
// them. The context is fresh because the signal's is already done.
func drain(r *relay.Relay, timeout time.Duration, logger *slog.Logger) {
	logger.Info("shutting down: draining", "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := r.Drain(ctx); err != nil {
		logger.Warn("drain timed out, closing open circuits", "err", err)
	}
}

func relayConfig(cfg Config, key []byte, id identity.PeerID, logger *slog.Logger) (relay.Config, error) {
	listen, err := parseAddrs(defaultListen(cfg.Listen, logger))
	if err != nil {
		return relay.Config{}, fmt.Errorf("listen: %w", err)
	}
	announce, err := announceAddrs(cfg.Announce, id)
	if err != nil {
		return relay.Config{}, fmt.Errorf("announce: %w", err)
	}
	tlsConf, err := wssTLS(cfg)
	if err != nil {
		return relay.Config{}, err
	}
	pol, err := policyOf(cfg)
	if err != nil {
		return relay.Config{}, err
	}
	proxy, err := proxyConfig(cfg)
	if err != nil {
		return relay.Config{}, err
	}
	meshCfg, err := meshConfig(cfg)
	if err != nil {
		return relay.Config{}, err
	}
	return relay.Config{
		Key:              key,
		Listen:           listen,
		Announce:         announce,
		WSPath:           cfg.WSPath,
		TLSConfig:        tlsConf,
		Version:          agentVersion(),
		HandshakeTimeout: cfg.HandshakeTimeout,
		ParkIdle:         parkIdle(cfg.ParkIdle),
		ReleaseAfter:     releaseAfter(cfg.ReleaseAfter),
		ReservationTTL:   cfg.ReservationTTL,
		Limits:           pol.limits,
		Conns:            pol.conns,
		MaxHandshakes:    cfg.MaxHandshakes,
		ProxyProtocol:    proxy,
		Fleet:            fleetConfig(cfg),
		Mesh:             meshCfg,
		Logger:           logger,
	}, nil
}

// parkIdle maps park_idle (0: never) to host.Config.ParkIdle (0: the
// default, negative: never).
func parkIdle(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// releaseAfter maps release_after (0: never) to
// host.Config.ReleaseAfter (0: the default, negative: never).
func releaseAfter(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// wssTLS loads the /wss certificate, if one is configured.
func wssTLS(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	conf, err := ws.LoadCertificate(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("tls_cert, tls_key: %w", err)
	}
	return conf, nil
}

// defaultListen drops the default IPv6 listen addresses on a machine
// without IPv6, so a bare `relayd` starts anywhere. Addresses the operator
// chose are never dropped: one that cannot bind is a startup error.
func defaultListen(listen []string, logger *slog.Logger) []string {
	if !slices.Equal(listen, defaultConfig().Listen) || ipv6Available() {
		return listen
	}
	logger.Warn("no IPv6 on this machine; serving the default listen addresses on IPv4 only")
	return slices.DeleteFunc(slices.Clone(listen), func(a string) bool { return strings.HasPrefix(a, "/ip6/") })
}

func ipv6Available() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func parseAddrs(ss []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(ss))
	for _, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("invalid multiaddr %q: %w", s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// announceAddrs parses the announce list and strips a trailing
// /p2p/<our id>; an address naming another peer is an error.
func announceAddrs(ss []string, id identity.PeerID) ([]ma.Multiaddr, error) {
	addrs, err := parseAddrs(ss)
	if err != nil {
		return nil, err
	}
	for i, a := range addrs {
		rest, last := ma.SplitLast(a)
		if last == nil || last.Code() != ma.P_P2P {
			continue
		}
		if last.Value() != id.String() {
			return nil, fmt.Errorf("%s names peer %s, but this relay is %s", a, last.Value(), id)
		}
		addrs[i] = rest
	}
	return addrs, nil
}

// logAddrs prints every full address a client can use, and warns when none
// is public: clients elsewhere could not reach such a relay.
func logAddrs(logger *slog.Logger, r *relay.Relay) {
	public := false
	for _, a := range r.Addrs() {
		logger.Info("listening", "addr", a.String())
		public = public || manet.IsPublicAddr(a)
	}
	if !public {
		logger.Warn("no public address is advertised; set --announce to the address peers reach this relay at")
	}
}

// agentVersion is the version part of identify's relayd/<version>.
func agentVersion() string {
	v, _ := buildVersion()
	return v
}

// buildVersion splits versionLine's "relayd <version> (<commit>)".
func buildVersion() (v, c string) {
	line := versionLine(version, commit, buildInfo())
	v, c, _ = strings.Cut(strings.TrimPrefix(line, "relayd "), " (")
	return v, strings.TrimSuffix(c, ")")
}

func buildInfo() *debug.BuildInfo {
	info, _ := debug.ReadBuildInfo()
	return info
}
