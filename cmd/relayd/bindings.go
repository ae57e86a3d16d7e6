package main

import (
	"strings"

	"github.com/relayd/relayd/tlsacme"
)

// binding ties one Config field to its YAML key, help text and parser. The
// flag and environment variable names are derived from the key, so the three
// spellings cannot drift apart.
type binding struct {
	key   string // YAML key, snake_case
	arg   string // placeholder shown in help; empty for booleans
	usage string // one line for help and --print-config comments
	value value
}

// bindings returns the binding of every Config field, in the order help,
// --print-config and docs/config.md list them.
func bindings(c *Config) []binding {
	return []binding{
		{"listen", "ADDR", "multiaddr to listen on (/tcp, /udp/…/quic-v1, /tcp/…/ws, /tcp/…/wss); repeatable, replaces the default",
			&listValue{p: &c.Listen, check: checkListenAddr}},
		{"announce", "ADDR", "multiaddr to advertise instead of the listen addresses; repeatable",
			&listValue{p: &c.Announce, check: checkAnnounceAddr}},
		{"tls_cert", "FILE", "PEM certificate chain for /wss listeners",
			stringValue{&c.TLSCert}},
		{"tls_key", "FILE", "PEM private key of tls_cert",
			stringValue{&c.TLSKey}},
		{"acme_domains", "NAME", "DNS name to get the /wss certificate for by ACME; repeatable",
			&listValue{p: &c.ACMEDomains, check: tlsacme.CheckDomain}},
		{"acme_email", "EMAIL", "contact email of the ACME account",
			stringValue{&c.ACMEEmail}},
		{"acme_ca", "URL", "ACME directory URL",
			stringValue{&c.ACMECA}},
		{"acme_ca_root", "FILE", "PEM root trusted for the ACME CA's HTTPS, beside the system roots",
			stringValue{&c.ACMECARoot}},
		{"acme_storage", "DIR", "directory for ACME account, keys and certificates; empty = acme beside the identity file",
			stringValue{&c.ACMEStorage}},
		{"acme_http_listen", "HOST:PORT", "HTTP server answering ACME HTTP-01 challenges; empty = none",
			stringValue{&c.ACMEHTTPListen}},
		{"acme_dns_server", "HOST:PORT", "DNS server taking RFC 2136 updates for DNS-01; empty = none",
			stringValue{&c.ACMEDNSServer}},
		{"acme_dns_tsig_key", "FILE", "TSIG key file (tsig-keygen format) for acme_dns_server",
			stringValue{&c.ACMEDNSTSIGKey}},
		{"ws_path", "PATH", "URL path WebSocket listeners upgrade on",
			stringValue{&c.WSPath}},
		{"identity", "FILE", "Ed25519 identity key file, created if missing",
			stringValue{&c.Identity}},
		{"reservation_ttl", "DURATION", "lifetime of a reservation",
			durationValue{&c.ReservationTTL}},
		{"max_reservations", "N", "maximum reservations held by this node (with redis: by the fleet)",
			intValue[int]{&c.MaxReservations}},
		{"max_circuits_per_peer", "N", "maximum concurrent circuits per peer",
			intValue[int]{&c.MaxCircuitsPerPeer}},
		{"limit_duration", "DURATION", "maximum lifetime of a circuit, whole seconds",
			durationValue{&c.LimitDuration}},
		{"limit_data", "BYTES", "maximum bytes per direction of a circuit; 0 = no data cap",
			intValue[int64]{&c.LimitData}},
		{"unlimited", "", "relay circuits without any duration or data limit",
			boolValue{&c.Unlimited}},
		{"limit_rate", "BYTES", "pace each direction of a circuit to BYTES a second; 0 = no pacing",
			intValue[int64]{&c.LimitRate}},
		{"max_circuits", "N", "maximum circuits relayed at once; 0 = no cap",
			intValue[int]{&c.MaxCircuits}},
		{"max_reservations_per_ip", "N", "maximum reservations per client IP (IPv6: /64); 0 = no cap",
			intValue[int]{&c.MaxReservationsPerIP}},
		{"max_reservations_per_subnet", "N", "maximum reservations per IPv4 /24 or IPv6 /56; 0 = no cap",
			intValue[int]{&c.MaxReservationsPerSubnet}},
		{"reserve_rate_per_ip", "RATE", "RESERVE requests per IP, N/UNIT:BURST (e.g. 1/s:8); 0 = no limit",
			rateValue{&c.ReserveRatePerIP}},
		{"reserve_rate_per_peer", "RATE", "RESERVE requests per peer, N/UNIT:BURST; 0 = no limit",
			rateValue{&c.ReserveRatePerPeer}},
		{"connect_rate_per_ip", "RATE", "CONNECT requests per IP, N/UNIT:BURST; 0 = no limit",
			rateValue{&c.ConnectRatePerIP}},
		{"connect_rate_per_peer", "RATE", "CONNECT requests per peer, N/UNIT:BURST; 0 = no limit",
			rateValue{&c.ConnectRatePerPeer}},
		{"deny_peers", "PEER", "peer ID refused with PERMISSION_DENIED; repeatable",
			&listValue{p: &c.DenyPeers, check: checkPeerID}},
		{"deny_cidrs", "CIDR", "client address range refused with PERMISSION_DENIED; repeatable",
			&listValue{p: &c.DenyCIDRs, check: checkCIDR}},
		{"allow_peers", "PEER", "peer ID relayed without limits or per-peer quotas; repeatable",
			&listValue{p: &c.AllowPeers, check: checkPeerID}},
		{"allow_cidrs", "CIDR", "client address range relayed without limits or per-peer quotas; repeatable",
			&listValue{p: &c.AllowCIDRs, check: checkCIDR}},
		{"classes", "CLASS", "named class with its own limits, name=N;peers=P,..;cidrs=C,..;limit_duration=D;...; repeatable",
			&classesValue{p: &c.Classes}},
		{"max_conns", "N", "maximum inbound connections; 0 = no cap",
			intValue[int]{&c.MaxConns}},
		{"conn_rate_per_ip", "RATE", "new inbound connections per IP, N/UNIT:BURST; 0 = no limit",
			rateValue{&c.ConnRatePerIP}},
		{"max_handshakes", "N", "maximum connection handshakes in flight per listener",
			intValue[int]{&c.MaxHandshakes}},
		{"proxy_protocol_trusted", "CIDR", "load balancer range allowed to send PROXY protocol headers; repeatable",
			&listValue{p: &c.ProxyProtocolTrusted, check: checkCIDR}},
		{"handshake_timeout", "DURATION", "time a new connection has to finish multistream, Noise and yamux",
			durationValue{&c.HandshakeTimeout}},
		{"park_idle", "DURATION", "shut an idle TCP connection's yamux session down after this long without streams or frames; 0 = never",
			durationValue{&c.ParkIdle}},
		{"release_after", "N", "hand freed memory back to the OS after a burst of this many new or parked connections; 0 = never",
			intValue[int]{&c.ReleaseAfter}},
		{"log_level", "LEVEL", "log level: debug, info, warn or error",
			stringValue{&c.LogLevel}},
		{"log_format", "FORMAT", "log format: text or json",
			stringValue{&c.LogFormat}},
		{"admin_listen", "HOST:PORT", "admin HTTP endpoint (/metrics, /healthz, /readyz); empty disables it",
			stringValue{&c.AdminListen}},
		{"pprof", "", "serve /debug/pprof/ on the admin endpoint",
			boolValue{&c.Pprof}},
		{"drain_timeout", "DURATION", "on SIGTERM or SIGINT, how long open circuits may run before they are closed",
			durationValue{&c.DrainTimeout}},
		{"memory_limit_percent", "N", "without GOMEMLIMIT, Go's memory limit as a percentage of the container's; 0 = off",
			intValue[int]{&c.MemoryLimitPercent}},
		{"redis", "URL", "Redis shared by a fleet (redis://, rediss://, cluster: ?addr=...); empty = single node",
			stringValue{&c.Redis}},
		{"redis_sentinel_master", "NAME", "Redis Sentinel master name; redis then names the Sentinels",
			stringValue{&c.RedisSentinelMaster}},
		{"redis_prefix", "PREFIX", "prefix of every Redis key",
			stringValue{&c.RedisPrefix}},
		{"node_id", "ID", "this node's name in the fleet; empty = the hostname",
			stringValue{&c.NodeID}},
		{"redis_unavailable", "POLICY", "new reservations while Redis is unreachable: local or refuse",
			stringValue{&c.RedisUnavailable}},
		{"heartbeat_ttl", "DURATION", "how long a node's Redis heartbeat keeps it alive in the fleet",
			durationValue{&c.HeartbeatTTL}},
		{"mesh_listen", "HOST:PORT", "accept mesh links from the other fleet nodes here; needs mesh_secret",
			stringValue{&c.MeshListen}},
		{"mesh_advertise", "HOST:PORT", "address other fleet nodes dial for mesh_listen",
			stringValue{&c.MeshAdvertise}},
		{"mesh_secret", "FILE", "file with the fleet's shared mesh secret, at least 32 bytes",
			stringValue{&c.MeshSecret}},
	}
}

func flagName(key string) string { return strings.ReplaceAll(optionName(key), "_", "-") }

func envName(key string) string { return "RELAYD_" + strings.ToUpper(optionName(key)) }

// singular names the flag and variable of a key that takes one item per
// use and reads badly in the plural (--class name=a;... names one class).
var singular = map[string]string{"classes": "class", "acme_domains": "acme_domain"}

func optionName(key string) string {
	if s, ok := singular[key]; ok {
		return s
	}
	return key
}

// envConfigFile names the config file when --config is not given; it is not
// a Config field because it says where the fields come from.
const envConfigFile = "RELAYD_CONFIG"
