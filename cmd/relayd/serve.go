package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
)

// serve runs the relay until ctx is cancelled (SIGTERM, SIGINT).
func serve(ctx context.Context, cfg Config, logger *slog.Logger) error {
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
	r, err := relay.New(rcfg)
	if err != nil {
		return err
	}
	defer r.Close()
	logAddrs(logger, r)
	logger.Info("relayd started", "peer", id.String())
	if err := r.Serve(ctx); err != nil {
		return err
	}
	logger.Info("shutting down")
	return nil
}

func relayConfig(cfg Config, key []byte, id identity.PeerID, logger *slog.Logger) (relay.Config, error) {
	listen, err := parseAddrs(cfg.Listen)
	if err != nil {
		return relay.Config{}, fmt.Errorf("listen: %w", err)
	}
	announce, err := announceAddrs(cfg.Announce, id)
	if err != nil {
		return relay.Config{}, fmt.Errorf("announce: %w", err)
	}
	limitData := cfg.LimitData
	if limitData == 0 { // the daemon's 0 is "no data cap"; limiter's is "default"
		limitData = -1
	}
	return relay.Config{
		Key:              key,
		Listen:           listen,
		Announce:         announce,
		Version:          agentVersion(),
		HandshakeTimeout: cfg.HandshakeTimeout,
		ReservationTTL:   cfg.ReservationTTL,
		Limits: limiter.Config{
			MaxReservations:    cfg.MaxReservations,
			MaxCircuitsPerPeer: cfg.MaxCircuitsPerPeer,
			LimitDuration:      cfg.LimitDuration,
			LimitData:          limitData,
			Unlimited:          cfg.Unlimited,
		},
		Logger: logger,
	}, nil
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
	line := versionLine(version, commit, buildInfo())
	return strings.TrimPrefix(strings.SplitN(line, " (", 2)[0], "relayd ")
}

func buildInfo() *debug.BuildInfo {
	info, _ := debug.ReadBuildInfo()
	return info
}
