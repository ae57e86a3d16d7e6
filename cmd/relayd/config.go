package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/tlsacme"
)

// Config is everything the daemon can be told. It is filled from defaults,
// then a YAML file, then RELAYD_* environment variables, then flags (each
// later source wins), and checked by Validate before anything starts.
//
// The comment on each field is the text of docs/config.md (TestConfigDocs
// regenerates it); it states the default and what zero or empty means.
// Adding a field means adding a binding in bindings() as well;
// TestEveryFieldIsBound fails until that is done.
type Config struct {
	// Multiaddrs to accept connections on: /ip4 or /ip6 followed by
	// /tcp/<port> (TCP), /udp/<port>/quic-v1 (QUIC), /tcp/<port>/ws
	// (WebSocket) or /tcp/<port>/wss (WebSocket over TLS, also written
	// /tcp/<port>/tls/ws; needs tls_cert and tls_key); port 0 picks a free
	// port. Every transport serves reservations and circuits, and a peer on
	// one reaches a peer on another. Default: /ip4/0.0.0.0/tcp/4001,
	// /ip6/::/tcp/4001, /ip4/0.0.0.0/udp/4001/quic-v1 and
	// /ip6/::/udp/4001/quic-v1. Giving the flag replaces the whole default
	// list. Empty is an error.
	Listen []string `yaml:"listen"`

	// Multiaddrs advertised to peers (in reservations and identify) instead
	// of addresses derived from the listen addresses; set it when relayd is
	// behind NAT or a load balancer. Must not contain /p2p-circuit.
	// Default: empty, which means derive from the listen addresses.
	Announce []string `yaml:"announce"`

	// PEM file with the TLS certificate chain served by /wss listeners (a
	// certificate browsers trust, for the name clients dial). Required when
	// a /wss listener is configured, together with tls_key. Default: empty.
	TLSCert string `yaml:"tls_cert"`

	// PEM file with the private key of tls_cert. Required when tls_cert is
	// set. Default: empty.
	TLSKey string `yaml:"tls_key"`

	// DNS names to get the /wss certificate for from an ACME CA (Let's
	// Encrypt unless acme_ca says otherwise), instead of tls_cert and
	// tls_key. relayd answers the CA's TLS-ALPN-01 challenge on its /wss
	// listener (the CA connects to port 443 of the name), HTTP-01 on
	// acme_http_listen, or DNS-01 through acme_dns_server; it renews the
	// certificate before expiry without a restart, and once a certificate
	// is held announces /dns4/<name>/tcp/<port>/tls/ws and its /wss form.
	// Until then TCP, QUIC and WS serve as usual and /readyz names what is
	// pending. Needs a /wss listener; cannot be combined with tls_cert.
	// Lower-case names of two or more labels; a *. wildcard needs
	// acme_dns_server. Default: empty, no ACME.
	ACMEDomains []string `yaml:"acme_domains"`

	// Contact email of the ACME account, where the CA may send expiry
	// warnings. Default: empty.
	ACMEEmail string `yaml:"acme_email"`

	// ACME directory URL (RFC 8555), https; for Let's Encrypt's staging CA:
	// https://acme-staging-v02.api.letsencrypt.org/directory. Default:
	// https://acme-v02.api.letsencrypt.org/directory (Let's Encrypt).
	ACMECA string `yaml:"acme_ca"`

	// PEM file with an extra root certificate trusted for the ACME CA's own
	// HTTPS (a private CA); the system roots stay trusted. Default: empty.
	ACMECARoot string `yaml:"acme_ca_root"`

	// Directory holding the ACME account, keys and certificates. With a
	// fleet sharing Redis, the shared store is used instead. Default:
	// empty, which means the directory acme beside the identity file.
	ACMEStorage string `yaml:"acme_storage"`

	// host:port of a plain HTTP server answering ACME HTTP-01 challenges
	// (and 404 to anything else); the CA connects to port 80 of the name.
	// Default: empty, no HTTP-01.
	ACMEHTTPListen string `yaml:"acme_http_listen"`

	// host:port of a DNS server accepting RFC 2136 dynamic updates for the
	// zone of acme_domains (BIND, Knot, PowerDNS, ...): relayd then answers
	// DNS-01 challenges by adding and removing TXT records there, which
	// works whatever port relayd listens on and allows *. wildcards. DNS-01
	// is then the only challenge used. Default: empty, no DNS-01.
	ACMEDNSServer string `yaml:"acme_dns_server"`

	// File with the TSIG key signing the updates to acme_dns_server, as
	// written by BIND's tsig-keygen (key "name" { algorithm hmac-sha256;
	// secret "..."; };). Default: empty, unsigned updates.
	ACMEDNSTSIGKey string `yaml:"acme_dns_tsig_key"`

	// URL path on which WebSocket (/ws, /wss) listeners accept upgrades;
	// other paths get 404. Set it when a reverse proxy routes by path.
	// Default: /. Must start with /.
	WSPath string `yaml:"ws_path"`

	// Path of the Ed25519 identity key file; created (mode 0600) on first
	// start if missing. The key fixes the relay's peer ID. Default:
	// relayd.key in the working directory. Empty is an error.
	Identity string `yaml:"identity"`

	// How long a reservation lasts before the client must refresh it.
	// Whole seconds, at least 1s. Default: 1h. Zero is an error.
	ReservationTTL time.Duration `yaml:"reservation_ttl"`

	// Maximum number of reservations this node holds at once; with redis,
	// the whole fleet. Default: 128. Zero or negative is an error.
	MaxReservations int `yaml:"max_reservations"`

	// Maximum number of concurrent relayed circuits per peer (as either
	// end). Default: 16. Zero or negative is an error.
	MaxCircuitsPerPeer int `yaml:"max_circuits_per_peer"`

	// Maximum lifetime of one relayed circuit, sent to clients in the
	// circuit Limit; the relay resets the circuit when it expires. Whole
	// seconds from 1s up to 2^32-1 seconds. Default: 2m (the go-libp2p
	// default). Zero is an error; use unlimited to drop the limit.
	LimitDuration time.Duration `yaml:"limit_duration"`

	// Maximum bytes relayed in each direction of one circuit, sent to clients
	// in the circuit Limit; the relay resets the circuit when it is reached.
	// Default: 131072 (128 KiB, the go-libp2p default). Zero means no data
	// cap (only limit_duration applies), as in the Circuit Relay v2 spec.
	// Negative is an error.
	LimitData int64 `yaml:"limit_data"`

	// Relay circuits with no Limit at all: no duration or data cap is sent
	// or enforced, and clients treat the connection as a normal one.
	// Default: false.
	Unlimited bool `yaml:"unlimited"`

	// Pace each direction of a circuit to at most this many bytes a second
	// (a token bucket): the relay reads more slowly, so the sender slows
	// down; the circuit is not cut. Not sent to clients (the spec's Limit
	// has no rate). Default: 0, no pacing. Negative is an error.
	LimitRate int64 `yaml:"limit_rate"`

	// Maximum number of circuits this node relays at once. Default: 1024.
	// Zero means no cap. Negative is an error.
	MaxCircuits int `yaml:"max_circuits"`

	// Maximum reservations held by peers connected from one IP address
	// (for IPv6, one /64); with redis, across the fleet. Behind a load
	// balancer this counts the client addresses of proxy_protocol_trusted.
	// Default: 8. Zero means no cap. Negative is an error.
	MaxReservationsPerIP int `yaml:"max_reservations_per_ip"`

	// Maximum reservations held by peers connected from one IPv4 /24 or
	// IPv6 /56; with redis, across the fleet. Default: 32. Zero means no
	// cap. Negative is an error.
	MaxReservationsPerSubnet int `yaml:"max_reservations_per_subnet"`

	// RESERVE requests allowed per IP (IPv6: /64), as a token bucket
	// N/UNIT:BURST (UNIT s, m or h), e.g. 1/s:8; 0 means no limit. Refused
	// requests get RESERVATION_REFUSED. Default: 1/s:8.
	ReserveRatePerIP limiter.Rate `yaml:"reserve_rate_per_ip"`

	// RESERVE requests allowed per peer, as N/UNIT:BURST; 0 means no limit.
	// A refresh is due once per reservation_ttl, so a few a minute is
	// plenty. Default: 6/m:4.
	ReserveRatePerPeer limiter.Rate `yaml:"reserve_rate_per_peer"`

	// CONNECT requests allowed per IP (IPv6: /64), as N/UNIT:BURST; 0 means
	// no limit. Refused requests get RESOURCE_LIMIT_EXCEEDED. Default:
	// 10/s:32.
	ConnectRatePerIP limiter.Rate `yaml:"connect_rate_per_ip"`

	// CONNECT requests allowed per peer, as N/UNIT:BURST; 0 means no limit.
	// Default: 4/s:16.
	ConnectRatePerPeer limiter.Rate `yaml:"connect_rate_per_peer"`

	// Peer IDs refused every RESERVE and CONNECT (to or from them) with
	// PERMISSION_DENIED. Wins over allow_peers and allow_cidrs. Default:
	// empty.
	DenyPeers []string `yaml:"deny_peers"`

	// Client address ranges (CIDRs, or single IPs) refused like deny_peers.
	// Default: empty.
	DenyCIDRs []string `yaml:"deny_cidrs"`

	// Peer IDs in the "allowed" class: their circuits carry no Limit (no
	// duration or data cap), and they skip the per-IP and per-subnet
	// reservation quotas, max_circuits_per_peer and the request rates;
	// max_reservations and max_circuits still count them. Default: empty.
	AllowPeers []string `yaml:"allow_peers"`

	// Client address ranges (CIDRs, or single IPs) in the "allowed" class,
	// like allow_peers. Default: empty.
	AllowCIDRs []string `yaml:"allow_cidrs"`

	// Named classes of peers with their own limits: a list of mappings,
	// each with name, peers and/or cidrs, and any of limit_duration,
	// limit_data, limit_rate, unlimited, max_circuits_per_peer,
	// max_reservations_per_ip, max_reservations_per_subnet and the four
	// request rates (see "Class keys" below); a key left out keeps the
	// top-level value. A peer is in the first class whose peers or cidrs
	// match it, tried in list order, then in "allowed", else in "default";
	// deny_peers and deny_cidrs win over every class. As a flag or
	// variable, one class is written name=x;peers=A,B;cidrs=C;limit_data=0
	// (semicolons between keys, commas inside lists); repeat the flag, or
	// separate classes with spaces, for more. Default: empty.
	Classes []ClassConfig `yaml:"classes"`

	// Maximum inbound connections, handshaking or established, on all
	// listeners together; more are closed as they are accepted. Default:
	// 2048. Zero means no cap. Negative is an error.
	MaxConns int `yaml:"max_conns"`

	// New inbound connections allowed per IP (IPv6: /64), as N/UNIT:BURST;
	// more are closed as they are accepted, before any handshake. 0 means
	// no limit. Default: 4/s:16.
	ConnRatePerIP limiter.Rate `yaml:"conn_rate_per_ip"`

	// Maximum connection handshakes in flight per listener; more
	// connections are closed at once. Default: 256. Zero or negative is an
	// error.
	MaxHandshakes int `yaml:"max_handshakes"`

	// Load balancer address ranges (CIDRs, or single IPs) allowed to send a
	// PROXY protocol (v1 or v2) header on TCP and WebSocket (/ws, /wss)
	// connections, naming the real client: quotas, rates and identify's
	// observed address then use the client's address. A header from any other source closes the
	// connection. Default: empty, which turns the PROXY protocol off.
	ProxyProtocolTrusted []string `yaml:"proxy_protocol_trusted"`

	// Time a new connection has to finish multistream-select, the Noise
	// handshake and yamux setup before it is closed. Default: 10s. Zero or
	// negative is an error.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`

	// A TCP or WebSocket connection with no stream open and no frame
	// either way for this long has its yamux session shut down, without a
	// word on the wire, until either side needs a stream again: an idle
	// reservation then costs one goroutine instead of yamux's two and its
	// buffers, about 14 KiB less. The peer's yamux pings are answered
	// meanwhile. Default: 2s. Zero keeps every session running; negative
	// is an error.
	ParkIdle time.Duration `yaml:"park_idle"`

	// After a burst of at least this many connections, new or parked, that
	// are also an eighth of those held, relayd hands the memory they freed
	// back to the OS once a second passes without another (a full garbage
	// collection, once per burst) instead of leaving it to the Go runtime,
	// which keeps up to twice the live heap. Default: 512. Zero leaves it to
	// the runtime; negative is an error.
	ReleaseAfter int `yaml:"release_after"`

	// Minimum level of log lines written to stderr: debug, info, warn or
	// error. Default: info. Empty is an error.
	LogLevel string `yaml:"log_level"`

	// Format of log lines: text (logfmt-like key=value) or json (one object
	// per line). Default: text. Empty is an error.
	LogFormat string `yaml:"log_format"`

	// host:port of the admin HTTP endpoint: /metrics (Prometheus), /healthz
	// (the process answers), /readyz (503 while starting or draining) and,
	// with pprof, /debug/pprof/. It is unauthenticated, so keep it on
	// loopback or a private network, and apart from the relay ports. The
	// host must be an IP address, localhost or empty (all interfaces).
	// Default: 127.0.0.1:9494 (not 9090, Prometheus's own port, so the two
	// share a host). Empty (in the file or as --admin-listen=) disables it.
	AdminListen string `yaml:"admin_listen"`

	// Serve Go's profiling endpoints under /debug/pprof/ on admin_listen.
	// They reveal internals and a CPU profile costs CPU, so they are off
	// unless asked for. Default: false.
	Pprof bool `yaml:"pprof"`

	// On the first SIGTERM or SIGINT relayd stops accepting connections,
	// reservations and circuits, turns /readyz to 503, and waits this long
	// for open circuits to end by themselves before closing everything; it
	// exits 0 either way. A second signal exits at once (code 1). Default:
	// 30s. Zero closes open circuits at once; negative is an error.
	DrainTimeout time.Duration `yaml:"drain_timeout"`

	// When the GOMEMLIMIT environment variable is unset and relayd runs
	// in a container with a memory limit (the cgroup v2 memory.max or
	// cgroup v1 memory.limit_in_bytes it sees under /sys/fs/cgroup), Go's
	// soft memory limit is set to this percentage of it, so the garbage
	// collector works harder near the limit instead of the kernel killing
	// relayd. GOMEMLIMIT, when set, always wins. Default: 90. Zero turns
	// it off; above 100 is an error.
	MemoryLimitPercent int `yaml:"memory_limit_percent"`

	// Redis shared by a fleet of relayd nodes: redis://[user:password@]host:port[/db],
	// rediss://... for TLS, or a Redis Cluster as
	// redis://host1:port?addr=host2:port&addr=host3:port. Reservations
	// and the reservation quotas (max_reservations, per IP, per subnet)
	// then hold across every node using it; request rates stay per node.
	// Default: empty, which means a single node keeping reservations in
	// memory.
	Redis string `yaml:"redis"`

	// Redis Sentinel master name; redis then names the Sentinels (one
	// host, or several with addr=). Default: empty, no Sentinel.
	RedisSentinelMaster string `yaml:"redis_sentinel_master"`

	// Prefix of every Redis key relayd writes; fleets sharing one Redis
	// need different prefixes. Must not contain { or }. Default: relayd:.
	// Empty is an error.
	RedisPrefix string `yaml:"redis_prefix"`

	// This node's name in the fleet: unique per node and stable across
	// restarts (a restart clears what the previous process left in
	// Redis). Default: empty, which means the hostname (the pod name on
	// Kubernetes).
	NodeID string `yaml:"node_id"`

	// What a node does with new reservations while Redis cannot be
	// reached: local admits them under this node's own quotas and
	// registers them when Redis returns (the fleet may briefly hold up to
	// N times its quotas); refuse answers RESERVATION_REFUSED and reports
	// /readyz 503. Established reservations and circuits never depend on
	// Redis either way. Default: local, because a relay that stops taking
	// reservations whenever Redis hiccups fails at its one job.
	RedisUnavailable string `yaml:"redis_unavailable"`

	// How long a node's heartbeat in Redis keeps it alive; it beats every
	// third of this. A node silent for longer (killed, cut off) holds
	// nothing: its reservations read as absent and free their quota
	// slots. Used with redis only. Default: 10s. Must be at least 2s.
	HeartbeatTTL time.Duration `yaml:"heartbeat_ttl"`
	// host:port on which this node accepts mesh links from the other nodes
	// of its fleet, which forward circuits for peers this node holds (and
	// carry the ones it forwards). Needs mesh_secret. Keep it on a private
	// network. Default: empty, no mesh: a CONNECT for a peer another node
	// holds is refused.
	MeshListen string `yaml:"mesh_listen"`

	// host:port the other nodes dial to reach mesh_listen (published in
	// the fleet's directory), e.g. the pod IP on Kubernetes. Required when
	// mesh_listen binds every interface (0.0.0.0, :: or an empty host).
	// Default: empty, which means mesh_listen.
	MeshAdvertise string `yaml:"mesh_advertise"`

	// File holding the cluster secret every node of the fleet shares (at
	// least 32 bytes once surrounding whitespace is trimmed, e.g. from
	// openssl rand -hex 32); mesh links are authenticated with it, and a
	// node without it is refused before it can send anything. Required with
	// mesh_listen. Default: empty.
	MeshSecret string `yaml:"mesh_secret"`
}

// defaultConfig is the one place defaults are written; DESIGN.md's
// "defaults a user can rely on" come from here.
func defaultConfig() Config {
	return Config{
		Listen: []string{
			"/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001",
			"/ip4/0.0.0.0/udp/4001/quic-v1", "/ip6/::/udp/4001/quic-v1",
		},
		Announce:                 []string{},
		TLSCert:                  "",
		TLSKey:                   "",
		ACMEDomains:              []string{},
		ACMEEmail:                "",
		ACMECA:                   tlsacme.LetsEncrypt,
		ACMECARoot:               "",
		ACMEStorage:              "",
		ACMEHTTPListen:           "",
		ACMEDNSServer:            "",
		ACMEDNSTSIGKey:           "",
		WSPath:                   "/",
		Identity:                 "relayd.key",
		ReservationTTL:           time.Hour,
		MaxReservations:          128,
		MaxCircuitsPerPeer:       16,
		LimitDuration:            2 * time.Minute,
		LimitData:                128 << 10,
		Unlimited:                false,
		LimitRate:                0,
		MaxCircuits:              1024,
		MaxReservationsPerIP:     8,
		MaxReservationsPerSubnet: 32,
		ReserveRatePerIP:         limiter.Rate{PerSecond: 1, Burst: 8},
		ReserveRatePerPeer:       limiter.Rate{PerSecond: 0.1, Burst: 4},
		ConnectRatePerIP:         limiter.Rate{PerSecond: 10, Burst: 32},
		ConnectRatePerPeer:       limiter.Rate{PerSecond: 4, Burst: 16},
		DenyPeers:                []string{},
		DenyCIDRs:                []string{},
		AllowPeers:               []string{},
		AllowCIDRs:               []string{},
		Classes:                  []ClassConfig{},
		MaxConns:                 2048,
		ConnRatePerIP:            limiter.Rate{PerSecond: 4, Burst: 16},
		MaxHandshakes:            256,
		ProxyProtocolTrusted:     []string{},
		HandshakeTimeout:         10 * time.Second,
		ParkIdle:                 2 * time.Second,
		ReleaseAfter:             512,
		LogLevel:                 "info",
		LogFormat:                "text",
		AdminListen:              "127.0.0.1:9494",
		Pprof:                    false,
		DrainTimeout:             30 * time.Second,
		MemoryLimitPercent:       90,
		Redis:                    "",
		RedisSentinelMaster:      "",
		RedisPrefix:              "relayd:",
		NodeID:                   "",
		RedisUnavailable:         "local",
		HeartbeatTTL:             10 * time.Second,
		MeshListen:               "",
		MeshAdvertise:            "",
		MeshSecret:               "",
	}
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// Validate reports the first invalid field as "<yaml key>: <problem>", one
// line, so the daemon can print it and exit 2.
func (c Config) Validate() error {
	checks := []struct {
		key string
		err error
	}{
		{"listen", checkAddrs(c.Listen, checkListenAddr, false)},
		{"announce", checkAddrs(c.Announce, checkAnnounceAddr, true)},
		{"tls_cert", c.checkTLSCert()},
		{"tls_key", c.checkTLSKey()},
		{"acme_domains", c.checkACMEDomains()},
		{"acme_ca", tlsacme.CheckCA(c.ACMECA)},
		{"acme_http_listen", checkHostPort(c.ACMEHTTPListen)},
		{"acme_dns_server", checkHostPort(c.ACMEDNSServer)},
		{"ws_path", checkWSPath(c.WSPath)},
		{"identity", checkNonEmpty(c.Identity)},
		{"reservation_ttl", checkWholeSeconds(c.ReservationTTL, time.Duration(math.MaxInt64))},
		{"max_reservations", checkAtLeast(int64(c.MaxReservations), 1)},
		{"max_circuits_per_peer", checkAtLeast(int64(c.MaxCircuitsPerPeer), 1)},
		{"limit_duration", checkWholeSeconds(c.LimitDuration, math.MaxUint32*time.Second)},
		{"limit_data", checkAtLeast(c.LimitData, 0)},
		{"limit_rate", checkAtLeastZero(c.LimitRate)},
		{"max_circuits", checkAtLeastZero(int64(c.MaxCircuits))},
		{"max_reservations_per_ip", checkAtLeastZero(int64(c.MaxReservationsPerIP))},
		{"max_reservations_per_subnet", checkAtLeastZero(int64(c.MaxReservationsPerSubnet))},
		{"reserve_rate_per_ip", checkRate(c.ReserveRatePerIP)},
		{"reserve_rate_per_peer", checkRate(c.ReserveRatePerPeer)},
		{"connect_rate_per_ip", checkRate(c.ConnectRatePerIP)},
		{"connect_rate_per_peer", checkRate(c.ConnectRatePerPeer)},
		{"deny_peers", checkAddrs(c.DenyPeers, checkPeerID, true)},
		{"deny_cidrs", checkAddrs(c.DenyCIDRs, checkCIDR, true)},
		{"allow_peers", checkAddrs(c.AllowPeers, checkPeerID, true)},
		{"allow_cidrs", checkAddrs(c.AllowCIDRs, checkCIDR, true)},
		{"", checkClasses(c.Classes)}, // names the field itself: classes[i].key
		{"max_conns", checkAtLeastZero(int64(c.MaxConns))},
		{"conn_rate_per_ip", checkRate(c.ConnRatePerIP)},
		{"max_handshakes", checkAtLeast(int64(c.MaxHandshakes), 1)},
		{"proxy_protocol_trusted", checkAddrs(c.ProxyProtocolTrusted, checkCIDR, true)},
		{"handshake_timeout", checkPositive(c.HandshakeTimeout)},
		{"park_idle", checkNonNegative(c.ParkIdle)},
		{"release_after", checkAtLeastZero(int64(c.ReleaseAfter))},
		{"log_level", checkOneOf(c.LogLevel, logLevels)},
		{"log_format", checkOneOf(c.LogFormat, logFormats)},
		{"admin_listen", checkAdminListen(c.AdminListen)},
		{"drain_timeout", checkNonNegative(c.DrainTimeout)},
		{"memory_limit_percent", checkPercent(c.MemoryLimitPercent)},
		{"redis", checkRedisURL(c.Redis)},
		{"redis_sentinel_master", c.checkSentinelMaster()},
		{"redis_prefix", checkRedisPrefix(c.RedisPrefix)},
		{"node_id", checkNodeID(c.NodeID)},
		{"redis_unavailable", checkOneOf(c.RedisUnavailable, redisPolicies)},
		{"heartbeat_ttl", checkHeartbeatTTL(c.HeartbeatTTL)},
		{"mesh_listen", c.checkMeshListen()},
		{"mesh_advertise", c.checkMeshAdvertise()},
		{"mesh_secret", c.checkMeshSecret()},
	}
	for _, ch := range checks {
		if ch.err != nil && ch.key == "" {
			return ch.err
		}
		if ch.err != nil {
			return fmt.Errorf("%s: %w", ch.key, ch.err)
		}
	}
	return nil
}

func checkAddrs(addrs []string, check func(string) error, emptyOK bool) error {
	if len(addrs) == 0 && !emptyOK {
		return errors.New("must list at least one multiaddr")
	}
	for _, a := range addrs {
		if err := check(a); err != nil {
			return err
		}
	}
	return nil
}

// listenForms are the protocols after /ip4|/ip6 that relayd listens on.
var listenForms = []string{"tcp", "udp/quic-v1", "tcp/ws", "tcp/wss", "tcp/tls/ws"}

// checkListenAddr accepts /ip4|/ip6 followed by one of listenForms.
func checkListenAddr(s string) error {
	m, err := parseMultiaddr(s)
	if err != nil {
		return err
	}
	if len(m) < 2 || (m[0].Code() != ma.P_IP4 && m[0].Code() != ma.P_IP6) || !slices.Contains(listenForms, protocolPath(m[1:])) {
		return fmt.Errorf("unsupported listen multiaddr %q: want /ip4|/ip6/<addr> followed by "+
			"/tcp/<port>, /udp/<port>/quic-v1, /tcp/<port>/ws or /tcp/<port>/wss", s)
	}
	return nil
}

// protocolPath is "tcp/ws" for /tcp/443/ws.
func protocolPath(m ma.Multiaddr) string {
	names := make([]string, 0, len(m))
	for _, p := range m.Protocols() {
		names = append(names, p.Name)
	}
	return strings.Join(names, "/")
}

// wssListener is the first /wss (or /tls/ws) listen address, or "".
func (c Config) wssListener() string {
	for _, s := range c.Listen {
		if m, err := ma.NewMultiaddr(s); err == nil && len(m) > 1 {
			if p := protocolPath(m[1:]); p == "tcp/wss" || p == "tcp/tls/ws" {
				return s
			}
		}
	}
	return ""
}

func (c Config) checkTLSCert() error {
	if c.TLSCert != "" {
		return nil
	}
	if l := c.wssListener(); l != "" && len(c.ACMEDomains) == 0 {
		return fmt.Errorf("required by the /wss listener %q", l)
	}
	if c.TLSKey != "" {
		return errors.New("required with tls_key")
	}
	return nil
}

func (c Config) checkTLSKey() error {
	if c.TLSKey == "" && c.TLSCert != "" {
		return errors.New("required with tls_cert")
	}
	return nil
}

// checkACMEDomains: names that can get a certificate, a /wss listener to
// serve it on, and no certificate from files competing with it.
func (c Config) checkACMEDomains() error {
	if len(c.ACMEDomains) == 0 {
		return nil
	}
	if c.TLSCert != "" {
		return errors.New("cannot be used with tls_cert: the /wss certificate comes either from ACME or from files")
	}
	if c.wssListener() == "" {
		return errors.New("needs a /wss listener (e.g. --listen /ip4/0.0.0.0/tcp/443/wss) to serve the certificate on")
	}
	for _, d := range c.ACMEDomains {
		if err := tlsacme.CheckDomain(d); err != nil {
			return err
		}
		if strings.HasPrefix(d, "*.") && c.ACMEDNSServer == "" {
			return fmt.Errorf("domain %q: a wildcard needs DNS-01 (acme_dns_server)", d)
		}
	}
	return nil
}

// checkHostPort accepts empty (off) or host:port with a numeric port.
func checkHostPort(s string) error {
	if s == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port, e.g. :80", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("invalid address %q: port must be a number from 0 to 65535", s)
	}
	return nil
}

// checkWSPath wants an absolute URL path without query or fragment.
func checkWSPath(p string) error {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# \t\r\n") {
		return fmt.Errorf("must be a URL path starting with /, got %q", p)
	}
	return nil
}

// checkAnnounceAddr rejects relayed addresses: a relay announcing a circuit
// address would send clients through another relay to reach it.
func checkAnnounceAddr(s string) error {
	m, err := parseMultiaddr(s)
	if err != nil {
		return err
	}
	for _, c := range m {
		if c.Code() == ma.P_CIRCUIT {
			return fmt.Errorf("announce multiaddr %q must not contain /p2p-circuit", s)
		}
	}
	return nil
}

func parseMultiaddr(s string) (ma.Multiaddr, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("invalid multiaddr %q: %w", s, err)
	}
	return m, nil
}

func checkNonEmpty(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func checkAtLeast(v, least int64) error {
	if v < least {
		return fmt.Errorf("must be >= %d, got %d", least, v)
	}
	return nil
}

func checkPositive(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("must be > 0, got %s", d)
	}
	return nil
}

func checkNonNegative(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("must be >= 0, got %s", d)
	}
	return nil
}

// checkAdminListen wants host:port with a literal IP, localhost or an
// empty host: any other name would be resolved at start and could bind an
// address nobody meant to expose. Empty disables the endpoint.
func checkAdminListen(s string) error {
	if s == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port, e.g. 127.0.0.1:9494", s)
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && host != "localhost" {
		return fmt.Errorf("invalid address %q: host must be an IP address or localhost", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("invalid address %q: port must be a number from 0 to 65535", s)
	}
	return nil
}

// checkWholeSeconds rejects rather than rounds fractional seconds: the wire
// carries seconds, and silently changing an operator's value hides mistakes.
func checkWholeSeconds(d, most time.Duration) error {
	switch {
	case d < time.Second:
		return fmt.Errorf("must be >= 1s, got %s", d)
	case d%time.Second != 0:
		return fmt.Errorf("must be a whole number of seconds, got %s", d)
	case d > most:
		return fmt.Errorf("must be <= %s, got %s", most, d)
	}
	return nil
}

func checkOneOf(s string, allowed []string) error {
	if !slices.Contains(allowed, s) {
		return fmt.Errorf("must be one of %v, got %q", allowed, s)
	}
	return nil
}

// checkMeshListen wants host:port with a literal IP or an empty host, like
// admin_listen, and mesh_secret beside it.
func (c Config) checkMeshListen() error {
	if c.MeshListen == "" {
		return nil
	}
	if err := checkAdminListen(c.MeshListen); err != nil {
		return err
	}
	if c.MeshSecret == "" {
		return errors.New("needs mesh_secret")
	}
	return nil
}

// checkMeshAdvertise wants host:port (any host name), only with
// mesh_listen, and is required when mesh_listen names no single address.
func (c Config) checkMeshAdvertise() error {
	if c.MeshAdvertise == "" {
		if host, _, err := net.SplitHostPort(c.MeshListen); err == nil && unspecifiedHost(host) {
			return fmt.Errorf("required when mesh_listen %q binds every interface", c.MeshListen)
		}
		return nil
	}
	if c.MeshListen == "" {
		return errors.New("needs mesh_listen")
	}
	host, port, err := net.SplitHostPort(c.MeshAdvertise)
	if err != nil || host == "" || unspecifiedHost(host) {
		return fmt.Errorf("invalid address %q: want host:port that other nodes can dial", c.MeshAdvertise)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("invalid address %q: port must be a number from 1 to 65535", c.MeshAdvertise)
	}
	return nil
}

func unspecifiedHost(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "" || err == nil && ip.IsUnspecified()
}

// checkMeshSecret: only with mesh_listen. The file itself is read, and
// checked, at start (readMeshSecret).
func (c Config) checkMeshSecret() error {
	if c.MeshSecret != "" && c.MeshListen == "" {
		return errors.New("needs mesh_listen")
	}
	return nil
}
