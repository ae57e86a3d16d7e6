package main

import "strings"

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
		{"listen", "ADDR", "multiaddr to listen on (/ip4|/ip6 + /tcp); repeatable, replaces the default",
			&listValue{p: &c.Listen, check: checkListenAddr}},
		{"announce", "ADDR", "multiaddr to advertise instead of the listen addresses; repeatable",
			&listValue{p: &c.Announce, check: checkAnnounceAddr}},
		{"identity", "FILE", "Ed25519 identity key file, created if missing",
			stringValue{&c.Identity}},
		{"reservation_ttl", "DURATION", "lifetime of a reservation",
			durationValue{&c.ReservationTTL}},
		{"max_reservations", "N", "maximum reservations held by this node",
			intValue[int]{&c.MaxReservations}},
		{"max_circuits_per_peer", "N", "maximum concurrent circuits per peer",
			intValue[int]{&c.MaxCircuitsPerPeer}},
		{"limit_duration", "DURATION", "maximum lifetime of a circuit, whole seconds",
			durationValue{&c.LimitDuration}},
		{"limit_data", "BYTES", "maximum bytes per direction of a circuit; 0 = no data cap",
			intValue[int64]{&c.LimitData}},
		{"unlimited", "", "relay circuits without any duration or data limit",
			boolValue{&c.Unlimited}},
		{"handshake_timeout", "DURATION", "time a new connection has to finish multistream, Noise and yamux",
			durationValue{&c.HandshakeTimeout}},
		{"log_level", "LEVEL", "log level: debug, info, warn or error",
			stringValue{&c.LogLevel}},
		{"log_format", "FORMAT", "log format: text or json",
			stringValue{&c.LogFormat}},
	}
}

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

func envName(key string) string { return "RELAYD_" + strings.ToUpper(key) }

// envConfigFile names the config file when --config is not given; it is not
// a Config field because it says where the fields come from.
const envConfigFile = "RELAYD_CONFIG"
