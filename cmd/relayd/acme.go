package main

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/relayd/relayd/fleet"
	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/relay"
	"github.com/relayd/relayd/tlsacme"
)

// newACME builds the certificate manager when acme_domains is set, or
// returns nil. onNames announces the names that got a certificate. With
// rdb (a fleet's Redis), the ACME storage is shared there instead of
// acme_storage; the caller owns rdb.
func newACME(cfg Config, reg prometheus.Registerer, logger *slog.Logger, rdb redis.UniversalClient, onNames func([]string)) (*tlsacme.Manager, error) {
	if len(cfg.ACMEDomains) == 0 {
		return nil, nil
	}
	storage := cfg.ACMEStorage
	if storage == "" {
		storage = filepath.Join(filepath.Dir(cfg.Identity), "acme")
	}
	acfg := tlsacme.Config{
		Domains:    cfg.ACMEDomains,
		Email:      cfg.ACMEEmail,
		CA:         cfg.ACMECA,
		CARootFile: cfg.ACMECARoot,
		StorageDir: storage,
		Redis:      rdb,
		// One hash tag for all ACME keys: certmagic's lock and the data
		// it guards then live on one Redis Cluster shard.
		RedisPrefix: cfg.RedisPrefix + "{acme}:",
		HTTPListen:  cfg.ACMEHTTPListen,
		OnNames:     onNames,
		Logger:      logger.With("component", "acme"),
		Metrics:     reg,
	}
	if cfg.ACMEDNSServer != "" {
		p, err := tlsacme.NewRFC2136(tlsacme.RFC2136Config{Server: cfg.ACMEDNSServer, TSIGKeyFile: cfg.ACMEDNSTSIGKey})
		if err != nil {
			return nil, fmt.Errorf("acme_dns_tsig_key: %w", err)
		}
		acfg.DNSProvider = p
	}
	m, err := tlsacme.New(acfg)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	return m, nil
}

// startACME starts obtaining certificates, with TLS-ALPN-01 answered on
// the first /wss listener.
func startACME(m *tlsacme.Manager, r *relay.Relay) error {
	if m == nil {
		return nil
	}
	return m.Start(wssHostPort(r.Host().ListenAddrs()))
}

// wssHostPort is host:port of the first bound /wss listener, or "".
func wssHostPort(addrs []ma.Multiaddr) string {
	for _, a := range addrs {
		if transport.Label(a) != "wss" {
			continue
		}
		port, err := a.ValueForProtocol(ma.P_TCP)
		if err != nil {
			continue
		}
		ip, err := a.ValueForProtocol(ma.P_IP4)
		if err != nil {
			ip, _ = a.ValueForProtocol(ma.P_IP6)
		}
		return net.JoinHostPort(ip, port)
	}
	return ""
}

// acmeStatus is what /readyz reports as pending, or nil without ACME.
func acmeStatus(m *tlsacme.Manager) func() []string {
	if m == nil {
		return nil
	}
	return m.Status
}

// acmeRedis is the Redis client ACME storage shares with the fleet, so one
// node orders a certificate and every node serves it and answers its
// challenges; nil without redis or without acme_domains (files then).
// certmagic's storage calls are not on any request path, so its timeout
// is longer than the fleet's admission timeout.
func acmeRedis(cfg Config) (redis.UniversalClient, error) {
	if cfg.Redis == "" || len(cfg.ACMEDomains) == 0 {
		return nil, nil
	}
	rdb, err := fleet.NewClient(cfg.Redis, cfg.RedisSentinelMaster, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return rdb, nil
}
