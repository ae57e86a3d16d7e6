package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want func(*Config)
	}{
		{"none", nil, func(c *Config) {}},
		{"listen replaces default", []string{"--listen", "/ip4/127.0.0.1/tcp/0"},
			func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/tcp/0"} }},
		{"listen repeated", []string{"--listen", "/ip4/127.0.0.1/tcp/1", "--listen=/ip6/::1/tcp/2"},
			func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/tcp/1", "/ip6/::1/tcp/2"} }},
		{"listen comma-separated", []string{"--listen", "/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2"},
			func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"} }},
		{"announce", []string{"--announce", "/dns4/relay.example.com/tcp/4001"},
			func(c *Config) { c.Announce = []string{"/dns4/relay.example.com/tcp/4001"} }},
		{"single dash", []string{"-identity", "k"}, func(c *Config) { c.Identity = "k" }},
		{"durations", []string{"--reservation-ttl", "30m", "--limit-duration=90s", "--handshake-timeout", "2s"},
			func(c *Config) {
				c.ReservationTTL, c.LimitDuration, c.HandshakeTimeout = 30*time.Minute, 90*time.Second, 2*time.Second
			}},
		{"negative duration parses, Validate rejects it", []string{"--reservation-ttl", "-1h"},
			func(c *Config) { c.ReservationTTL = -time.Hour }},
		{"integers", []string{"--max-reservations", "100000", "--max-circuits-per-peer", "1", "--limit-data", "0"},
			func(c *Config) { c.MaxReservations, c.MaxCircuitsPerPeer, c.LimitData = 100000, 1, 0 }},
		{"bare bool", []string{"--unlimited"}, func(c *Config) { c.Unlimited = true }},
		{"bool false", []string{"--unlimited=false"}, func(c *Config) {}},
		{"logging", []string{"--log-level", "debug", "--log-format", "json"},
			func(c *Config) { c.LogLevel, c.LogFormat = "debug", "json" }},
		{"admin", []string{"--admin-listen", "[::1]:9100", "--pprof", "--drain-timeout", "0s"},
			func(c *Config) { c.AdminListen, c.Pprof, c.DrainTimeout = "[::1]:9100", true, 0 }},
		{"empty admin-listen disables", []string{"--admin-listen="}, func(c *Config) { c.AdminListen = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := defaultConfig(), defaultConfig()
			tt.want(&want)
			var opts options
			if err := parseFlags(tt.args, &got, &opts); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "foo"}, `flag --listen: invalid multiaddr "foo": `},
		{[]string{"--listen", "/ip4/127.0.0.1/udp/1"}, `flag --listen: unsupported listen multiaddr "/ip4/127.0.0.1/udp/1"`},
		{[]string{"--announce", "/ip4/192.0.2.1/tcp/1/p2p-circuit"}, `flag --announce: announce multiaddr "/ip4/192.0.2.1/tcp/1/p2p-circuit" must not contain /p2p-circuit`},
		{[]string{"--reservation-ttl", "abc"}, `flag --reservation-ttl: invalid duration "abc"`},
		{[]string{"--limit-duration", "120"}, `flag --limit-duration: invalid duration "120"`},
		{[]string{"--max-reservations", "lots"}, `flag --max-reservations: invalid integer "lots"`},
		{[]string{"--max-circuits-per-peer", "1.5"}, `flag --max-circuits-per-peer: invalid integer "1.5"`},
		{[]string{"--limit-data", "99999999999999999999"}, `flag --limit-data: integer "99999999999999999999" out of range`},
		{[]string{"--unlimited=maybe"}, `flag --unlimited: invalid boolean "maybe"`},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
		{[]string{"--listen"}, "flag needs an argument: -listen"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--log-level", "debug", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c, opts := defaultConfig(), options{}
			checkErrPrefix(t, parseFlags(tt.args, &c, &opts), tt.want)
		})
	}
}

func TestParseFlagsHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		c, opts := defaultConfig(), options{}
		if err := parseFlags([]string{arg}, &c, &opts); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: err = %v, want flag.ErrHelp", arg, err)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*Config)
	}{
		{"unrelated", map[string]string{"RELAYD_NOPE": "x", "LISTEN": "x"}, func(c *Config) {}},
		{"empty means unset", map[string]string{"RELAYD_LISTEN": "", "RELAYD_MAX_RESERVATIONS": ""}, func(c *Config) {}},
		{"list comma-separated", map[string]string{"RELAYD_LISTEN": "/ip4/127.0.0.1/tcp/1,/ip6/::1/tcp/2"},
			func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/tcp/1", "/ip6/::1/tcp/2"} }},
		{"scalars", map[string]string{
			"RELAYD_RESERVATION_TTL": "2h", "RELAYD_LIMIT_DATA": "0", "RELAYD_UNLIMITED": "true", "RELAYD_LOG_FORMAT": "json",
		}, func(c *Config) {
			c.ReservationTTL, c.LimitData, c.Unlimited, c.LogFormat = 2*time.Hour, 0, true, "json"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := defaultConfig(), defaultConfig()
			tt.want(&want)
			if err := applyEnv(&got, mapEnv(tt.env)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestApplyEnvErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"RELAYD_LIMIT_DATA": "x"}, `env RELAYD_LIMIT_DATA: invalid integer "x"`},
		{map[string]string{"RELAYD_RESERVATION_TTL": "3600"}, `env RELAYD_RESERVATION_TTL: invalid duration "3600"`},
		{map[string]string{"RELAYD_UNLIMITED": "yes"}, `env RELAYD_UNLIMITED: invalid boolean "yes"`},
		{map[string]string{"RELAYD_LISTEN": "/ip4/127.0.0.1/tcp/1,bar"}, `env RELAYD_LISTEN: invalid multiaddr "bar"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c := defaultConfig()
			checkErrPrefix(t, applyEnv(&c, mapEnv(tt.env)), tt.want)
		})
	}
}

func TestDecodeYAML(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want func(*Config)
	}{
		{"empty file", "", func(c *Config) {}},
		{"only comments", "# nothing here\n", func(c *Config) {}},
		{"null document", "~\n", func(c *Config) {}},
		{"all fields", `
listen: [/ip4/127.0.0.1/tcp/0]
announce:
  - /dns4/relay.example.com/tcp/4001
  - /ip4/192.0.2.7/tcp/4001
tls_cert: /etc/relayd/cert.pem
tls_key: /etc/relayd/key.pem
acme_domains: [relay.example.com, "*.relay.example.net"]
acme_email: ops@example.com
acme_ca: https://acme-staging-v02.api.letsencrypt.org/directory
acme_ca_root: /etc/relayd/ca-root.pem
acme_storage: /var/lib/relayd/acme
acme_http_listen: ":80"
acme_dns_server: 192.0.2.53:53
acme_dns_tsig_key: /etc/relayd/tsig.key
ws_path: /p2p
identity: /var/lib/relayd/key
reservation_ttl: 30m
max_reservations: 100000
max_circuits_per_peer: 4
limit_duration: 90s
limit_data: 1048576
unlimited: true
limit_rate: 1048576
max_circuits: 0
max_reservations_per_ip: 2
max_reservations_per_subnet: 0
reserve_rate_per_ip: 2/s:3
reserve_rate_per_peer: 0
connect_rate_per_ip: 30/m:1
connect_rate_per_peer: 100/s:100
deny_peers: [12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN]
deny_cidrs: [192.0.2.0/24, 2001:db8::/32]
allow_peers: [12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA]
allow_cidrs: [10.0.0.0/8]
classes:
  - name: partners
    peers: [12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN, 12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA]
    cidrs: [10.2.0.0/16]
    limit_duration: 10m
    limit_data: 0
    limit_rate: 65536
    unlimited: true
    max_circuits_per_peer: 2
    max_reservations_per_ip: 0
    max_reservations_per_subnet: 4
    reserve_rate_per_ip: 0
    reserve_rate_per_peer: 1/s:2
    connect_rate_per_ip: 30/m:1
    connect_rate_per_peer: 100/s:100
  - {name: lab, cidrs: [192.0.2.128/25]}
max_conns: 0
conn_rate_per_ip: "off"
max_handshakes: 32
proxy_protocol_trusted: [10.1.0.0/16, fd00::1]
handshake_timeout: 3s
park_idle: 5s
release_after: 0
log_level: debug
log_format: json
admin_listen: 127.0.0.1:0
pprof: true
drain_timeout: 5s
memory_limit_percent: 75
redis: redis://127.0.0.1:26379?addr=127.0.0.1:26380
redis_sentinel_master: relays
redis_prefix: "fleet1:"
node_id: relay-0
redis_unavailable: refuse
heartbeat_ttl: 30s
mesh_listen: 10.0.0.5:7946
mesh_advertise: relayd-0.relayd:7946
mesh_secret: /etc/relayd/mesh.secret
`, func(c *Config) { *c = altConfig() }},
		{"admin_listen empty disables", "admin_listen: \"\"\n", func(c *Config) { c.AdminListen = "" }},
		{"single listen scalar", "listen: /ip4/127.0.0.1/tcp/0\n",
			func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/tcp/0"} }},
		{"null list is empty", "announce:\n", func(c *Config) { c.Announce = []string{} }},
		{"null string is empty", "identity: ~\n", func(c *Config) { c.Identity = "" }},
		{"quoted number", `max_reservations: "64"` + "\n", func(c *Config) { c.MaxReservations = 64 }},
		{"anchor reused", "listen: [&a /ip4/127.0.0.1/tcp/9]\nannounce: [*a]\n",
			func(c *Config) {
				c.Listen, c.Announce = []string{"/ip4/127.0.0.1/tcp/9"}, []string{"/ip4/127.0.0.1/tcp/9"}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := defaultConfig(), defaultConfig()
			tt.want(&want)
			if err := decodeYAML([]byte(tt.yaml), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDecodeYAMLErrors(t *testing.T) {
	tests := []struct {
		yaml string
		want string
	}{
		{"listen: [/ip4/127.0.0.1/tcp/0]\nlistn: x\n", `line 2: unknown key "listn"`},
		{"x-base: &port /ip4/127.0.0.1/tcp/9\n", `line 1: unknown key "x-base"`},
		{"identity: a\nidentity: b\n", "line 2: identity: key given twice"},
		{"reservation_ttl: 3600\n", `line 1: reservation_ttl: invalid duration "3600"`},
		{"reservation_ttl: soon\n", `line 1: reservation_ttl: invalid duration "soon"`},
		{"max_reservations: 1.5\n", `line 1: max_reservations: invalid integer "1.5"`},
		{"max_reservations: [1]\n", "line 1: max_reservations: want a single value, not a list or mapping"},
		{"limit_data: -x\n", `line 1: limit_data: invalid integer "-x"`},
		{"unlimited: yes\n", `line 1: unlimited: invalid boolean "yes"`},
		{"log_level: {a: b}\n", "line 1: log_level: want a single value"},
		{"listen: {a: b}\n", "line 1: listen: want a list of multiaddrs"},
		{"listen:\n  - [nested]\n", "line 1: listen: want a list of multiaddr strings, not nested"},
		{"listen:\n  - /ip4/127.0.0.1/tcp/1\n  - foo\n", `line 1: listen: invalid multiaddr "foo"`},
		{"announce: [/ip4/192.0.2.1/tcp/1/p2p-circuit]\n", `line 1: announce: announce multiaddr "/ip4/192.0.2.1/tcp/1/p2p-circuit" must not contain /p2p-circuit`},
		{"- listen\n", "line 1: want a mapping of keys to values at the top level"},
		{"listen\n", "line 1: want a mapping"},
		{"identity: a\n---\nidentity: b\n", "want exactly one YAML document"},
		{"listen: [/ip4/127.0.0.1/tcp/0\n", "yaml: line 1: "},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c := defaultConfig()
			checkErrPrefix(t, decodeYAML([]byte(tt.yaml), &c), tt.want)
		})
	}
}

func TestLoadFileErrorsNamePath(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "nope: 1\n")
	c := defaultConfig()
	checkErrPrefix(t, loadFile(bad, &c), "config file "+bad+`: line 1: unknown key "nope"`)
	checkErrPrefix(t, loadFile(filepath.Join(dir, "missing.yaml"), &c), "config file: open "+filepath.Join(dir, "missing.yaml"))
	big := writeFile(t, dir, "big.yaml", "# "+strings.Repeat("x", maxConfigFile)+"\n")
	checkErrPrefix(t, loadFile(big, &c), "config file: "+big+" is larger than 1048576 bytes")
}

// TestPrecedence: flags > env > file > defaults, field by field.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "relayd.yaml", `
identity: from-file
max_reservations: 1
max_circuits_per_peer: 1
limit_data: 1
listen: [/ip4/127.0.0.1/tcp/1]
`)
	env := map[string]string{
		"RELAYD_CONFIG":                file,
		"RELAYD_MAX_RESERVATIONS":      "2",
		"RELAYD_MAX_CIRCUITS_PER_PEER": "2",
		"RELAYD_LISTEN":                "/ip4/127.0.0.1/tcp/2",
	}
	args := []string{"--max-circuits-per-peer", "3", "--listen", "/ip4/127.0.0.1/tcp/3"}
	got, opts, err := loadConfig(args, mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	want.Identity = "from-file"                    // file only
	want.LimitData = 1                             // file only
	want.MaxReservations = 2                       // env beats file
	want.MaxCircuitsPerPeer = 3                    // flag beats env and file
	want.Listen = []string{"/ip4/127.0.0.1/tcp/3"} // a list flag replaces, never appends
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if opts.configFile != file {
		t.Errorf("config file %q, want %q from RELAYD_CONFIG", opts.configFile, file)
	}
}

func TestConfigFlagBeatsConfigEnv(t *testing.T) {
	dir := t.TempDir()
	fromEnv := writeFile(t, dir, "env.yaml", "identity: env-file\n")
	fromFlag := writeFile(t, dir, "flag.yaml", "identity: flag-file\n")
	got, _, err := loadConfig([]string{"--config", fromFlag}, mapEnv(map[string]string{"RELAYD_CONFIG": fromEnv}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity != "flag-file" {
		t.Errorf("identity %q: --config did not win over RELAYD_CONFIG", got.Identity)
	}
}

// TestBadFlagBeforeFile: a bad flag is reported even when the file is bad
// too, because flags are checked before anything is read.
func TestBadFlagBeforeFile(t *testing.T) {
	_, _, err := loadConfig([]string{"--config", "/nonexistent/relayd.yaml", "--limit-data", "x"}, mapEnv(nil))
	checkErrPrefix(t, err, `flag --limit-data: invalid integer "x"`)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzDecodeYAML: no config file crashes relayd, and any file it accepts
// prints (--print-config) to one that decodes to the same config.
func FuzzDecodeYAML(f *testing.F) {
	for _, c := range []Config{defaultConfig(), altConfig()} {
		var buf bytes.Buffer
		if err := writeConfig(&buf, c); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte("listen: /ip4/127.0.0.1/tcp/0\nannounce: [&a /ip4/192.0.2.1/tcp/1, *a]\nidentity: ~\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := defaultConfig()
		if err := decodeYAML(b, &c); err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := writeConfig(&buf, c); err != nil {
			t.Fatal(err)
		}
		var again Config
		if err := decodeYAML(buf.Bytes(), &again); err != nil {
			t.Fatalf("printed config does not decode: %v\n%s", err, buf.String())
		}
		if !equalConfig(c, again) {
			t.Fatalf("round trip changed config:\n%+v\n%+v", c, again)
		}
	})
}
