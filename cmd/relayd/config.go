package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	ma "github.com/multiformats/go-multiaddr"
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
	// Multiaddrs to accept connections on: /ip4 or /ip6 followed by /tcp
	// (other transports are not implemented yet); port 0 picks a free port.
	// Default: /ip4/0.0.0.0/tcp/4001 and /ip6/::/tcp/4001. Giving the flag
	// replaces the whole default list. Empty is an error.
	Listen []string `yaml:"listen"`

	// Multiaddrs advertised to peers (in reservations and identify) instead
	// of addresses derived from the listen addresses; set it when relayd is
	// behind NAT or a load balancer. Must not contain /p2p-circuit.
	// Default: empty, which means derive from the listen addresses.
	Announce []string `yaml:"announce"`

	// Path of the Ed25519 identity key file; created (mode 0600) on first
	// start if missing. The key fixes the relay's peer ID. Default:
	// relayd.key in the working directory. Empty is an error.
	Identity string `yaml:"identity"`

	// How long a reservation lasts before the client must refresh it.
	// Whole seconds, at least 1s. Default: 1h. Zero is an error.
	ReservationTTL time.Duration `yaml:"reservation_ttl"`

	// Maximum number of reservations this node holds at once. Default: 128.
	// Zero or negative is an error.
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

	// Time a new connection has to finish multistream-select, the Noise
	// handshake and yamux setup before it is closed. Default: 10s. Zero or
	// negative is an error.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`

	// Minimum level of log lines written to stderr: debug, info, warn or
	// error. Default: info. Empty is an error.
	LogLevel string `yaml:"log_level"`

	// Format of log lines: text (logfmt-like key=value) or json (one object
	// per line). Default: text. Empty is an error.
	LogFormat string `yaml:"log_format"`
}

// defaultConfig is the one place defaults are written; DESIGN.md's
// "defaults a user can rely on" come from here.
func defaultConfig() Config {
	return Config{
		Listen:             []string{"/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"},
		Announce:           []string{},
		Identity:           "relayd.key",
		ReservationTTL:     time.Hour,
		MaxReservations:    128,
		MaxCircuitsPerPeer: 16,
		LimitDuration:      2 * time.Minute,
		LimitData:          128 << 10,
		Unlimited:          false,
		HandshakeTimeout:   10 * time.Second,
		LogLevel:           "info",
		LogFormat:          "text",
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
		{"identity", checkNonEmpty(c.Identity)},
		{"reservation_ttl", checkWholeSeconds(c.ReservationTTL, time.Duration(math.MaxInt64))},
		{"max_reservations", checkAtLeast(int64(c.MaxReservations), 1)},
		{"max_circuits_per_peer", checkAtLeast(int64(c.MaxCircuitsPerPeer), 1)},
		{"limit_duration", checkWholeSeconds(c.LimitDuration, math.MaxUint32*time.Second)},
		{"limit_data", checkAtLeast(c.LimitData, 0)},
		{"handshake_timeout", checkPositive(c.HandshakeTimeout)},
		{"log_level", checkOneOf(c.LogLevel, logLevels)},
		{"log_format", checkOneOf(c.LogFormat, logFormats)},
	}
	for _, ch := range checks {
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

// checkListenAddr accepts exactly /ip4|/ip6 + /tcp: the only transport the
// daemon can listen on so far.
func checkListenAddr(s string) error {
	m, err := parseMultiaddr(s)
	if err != nil {
		return err
	}
	if len(m) != 2 || (m[0].Code() != ma.P_IP4 && m[0].Code() != ma.P_IP6) || m[1].Code() != ma.P_TCP {
		return fmt.Errorf("unsupported listen multiaddr %q: want /ip4/<addr>/tcp/<port> or /ip6/<addr>/tcp/<port>", s)
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
