package main

import (
	"bytes"
	"math"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/relayd/relayd/limiter"
)

// altConfig differs from defaultConfig in every field, and is valid. The
// binding tests use it to see each field change.
func altConfig() Config {
	return Config{
		Listen:                   []string{"/ip4/127.0.0.1/tcp/0"},
		Announce:                 []string{"/dns4/relay.example.com/tcp/4001", "/ip4/192.0.2.7/tcp/4001"},
		TLSCert:                  "/etc/relayd/cert.pem",
		TLSKey:                   "/etc/relayd/key.pem",
		ACMEDomains:              []string{"relay.example.com", "*.relay.example.net"},
		ACMEEmail:                "ops@example.com",
		ACMECA:                   "https://acme-staging-v02.api.letsencrypt.org/directory",
		ACMECARoot:               "/etc/relayd/ca-root.pem",
		ACMEStorage:              "/var/lib/relayd/acme",
		ACMEHTTPListen:           ":80",
		ACMEDNSServer:            "192.0.2.53:53",
		ACMEDNSTSIGKey:           "/etc/relayd/tsig.key",
		WSPath:                   "/p2p",
		Identity:                 "/var/lib/relayd/key",
		ReservationTTL:           30 * time.Minute,
		MaxReservations:          100000,
		MaxCircuitsPerPeer:       4,
		LimitDuration:            90 * time.Second,
		LimitData:                1 << 20,
		Unlimited:                true,
		LimitRate:                1 << 20,
		MaxCircuits:              0,
		MaxReservationsPerIP:     2,
		MaxReservationsPerSubnet: 0,
		ReserveRatePerIP:         limiter.Rate{PerSecond: 2, Burst: 3},
		ReserveRatePerPeer:       limiter.NoRate,
		ConnectRatePerIP:         limiter.Rate{PerSecond: 0.5, Burst: 1},
		ConnectRatePerPeer:       limiter.Rate{PerSecond: 100, Burst: 100},
		DenyPeers:                []string{"12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"},
		DenyCIDRs:                []string{"192.0.2.0/24", "2001:db8::/32"},
		AllowPeers:               []string{"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"},
		AllowCIDRs:               []string{"10.0.0.0/8"},
		Classes:                  altClasses(),
		MaxConns:                 0,
		ConnRatePerIP:            limiter.NoRate,
		MaxHandshakes:            32,
		ProxyProtocolTrusted:     []string{"10.1.0.0/16", "fd00::1"},
		HandshakeTimeout:         3 * time.Second,
		ParkIdle:                 5 * time.Second,
		ReleaseAfter:             0,
		LogLevel:                 "debug",
		LogFormat:                "json",
		AdminListen:              "127.0.0.1:0",
		Pprof:                    true,
		DrainTimeout:             5 * time.Second,
		MemoryLimitPercent:       75,
		Redis:                    "redis://127.0.0.1:26379?addr=127.0.0.1:26380",
		RedisSentinelMaster:      "relays",
		RedisPrefix:              "fleet1:",
		NodeID:                   "relay-0",
		RedisUnavailable:         "refuse",
		HeartbeatTTL:             30 * time.Second,
		MeshListen:               "10.0.0.5:7946",
		MeshAdvertise:            "relayd-0.relayd:7946",
		MeshSecret:               "/etc/relayd/mesh.secret",
	}
}

// altValid is altConfig made valid: acme_domains excludes tls_cert and
// needs a /wss listener, so no one valid config sets every field.
func altValid() Config {
	c := altConfig()
	c.ACMEDomains = nil
	return c
}

// altACME is altConfig with ACME instead of certificate files.
func altACME() Config {
	c := altConfig()
	c.TLSCert, c.TLSKey = "", ""
	c.Listen = append(c.Listen, "/ip4/127.0.0.1/tcp/0/wss")
	return c
}

func TestDefaultAndAltConfigAreValidAndDiffer(t *testing.T) {
	for name, c := range map[string]Config{"default": defaultConfig(), "alt": altValid(), "alt with ACME": altACME()} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s config: Validate: %v", name, err)
		}
	}
	d, a := reflect.ValueOf(defaultConfig()), reflect.ValueOf(altConfig())
	for i := range d.NumField() {
		if reflect.DeepEqual(d.Field(i).Interface(), a.Field(i).Interface()) {
			t.Errorf("altConfig().%s equals the default; give it a different valid value", d.Type().Field(i).Name)
		}
	}
}

// TestEveryFieldIsBound is STYLE rule 5: a field that is added to Config but
// not to bindings(), the flags, the environment, --print-config or
// docs/config.md fails here.
func TestEveryFieldIsBound(t *testing.T) {
	docs, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	printed := printedKeys(t, defaultConfig())
	typ := reflect.TypeFor[Config]()
	keyRE := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for i := range typ.NumField() {
		f := typ.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			key := f.Tag.Get("yaml")
			if !keyRE.MatchString(key) {
				t.Fatalf("yaml tag %q is not a snake_case key", key)
			}
			checkBindingTarget(t, i, key)
			checkFlag(t, i, key)
			checkEnv(t, i, key)
			if _, ok := printed[key]; !ok {
				t.Errorf("--print-config output lacks key %q", key)
			}
			if !bytes.Contains(docs, []byte("| `"+key+"` | `--"+flagName(key)+"` | `"+envName(key)+"` |")) {
				t.Errorf("%s has no row for %q; run go test ./cmd/relayd -run TestConfigDocs -update", docsPath, key)
			}
		})
	}
}

// checkBindingTarget asserts the binding named key writes field i.
func checkBindingTarget(t *testing.T, i int, key string) {
	t.Helper()
	var c Config
	want := reflect.ValueOf(&c).Elem().Field(i).Addr().Pointer()
	for _, b := range bindings(&c) {
		if b.key == key {
			if got := reflect.ValueOf(b.value.field()).Pointer(); got != want {
				t.Errorf("binding %q writes another field", key)
			}
			return
		}
	}
	t.Errorf("no binding for key %q in bindings()", key)
}

// checkFlag sets field i from its flag and checks no other field moved.
func checkFlag(t *testing.T, i int, key string) {
	t.Helper()
	c, opts := defaultConfig(), options{}
	if err := parseFlags([]string{"--" + flagName(key) + "=" + altText(t, key)}, &c, &opts); err != nil {
		t.Fatalf("flag --%s: %v", flagName(key), err)
	}
	checkOnlyFieldChanged(t, c, i)
}

func checkEnv(t *testing.T, i int, key string) {
	t.Helper()
	env := map[string]string{envName(key): altText(t, key)}
	c := defaultConfig()
	if err := applyEnv(&c, mapEnv(env)); err != nil {
		t.Fatalf("env %s: %v", envName(key), err)
	}
	checkOnlyFieldChanged(t, c, i)
}

func checkOnlyFieldChanged(t *testing.T, c Config, i int) {
	t.Helper()
	got, def, alt := reflect.ValueOf(c), reflect.ValueOf(defaultConfig()), reflect.ValueOf(altConfig())
	for j := range got.NumField() {
		want := def.Field(j)
		if j == i {
			want = alt.Field(j)
		}
		if !reflect.DeepEqual(got.Field(j).Interface(), want.Interface()) {
			t.Errorf("field %s = %v, want %v", got.Type().Field(j).Name, got.Field(j), want)
		}
	}
}

// altText is altConfig's value for key in flag and environment syntax.
func altText(t *testing.T, key string) string {
	t.Helper()
	a := altConfig()
	for _, b := range bindings(&a) {
		if b.key == key {
			return b.value.String()
		}
	}
	t.Fatalf("no binding for %q", key)
	return ""
}

func printedKeys(t *testing.T, c Config) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := writeConfig(&buf, c); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("printed config is not YAML: %v\n%s", err, buf.String())
	}
	return m
}

func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // prefix of the error; "" means valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"listen port 0 on loopback", func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/0"} }, ""},
		{"listen every transport", func(c *Config) {
			c.Listen = []string{"/ip4/0.0.0.0/tcp/4001", "/ip6/::/udp/4001/quic-v1", "/ip4/0.0.0.0/tcp/80/ws", "/ip4/0.0.0.0/tcp/443/wss", "/ip6/::/tcp/443/tls/ws"}
			c.TLSCert, c.TLSKey = "cert.pem", "key.pem"
		}, ""},
		{"ws_path nested", func(c *Config) { c.WSPath = "/libp2p/ws" }, ""},
		{"announce dns", func(c *Config) { c.Announce = []string{"/dns4/relay.example.com/tcp/4001"} }, ""},
		{"limit_data zero is no cap", func(c *Config) { c.LimitData = 0 }, ""},
		{"limit_duration uint32 max", func(c *Config) { c.LimitDuration = math.MaxUint32 * time.Second }, ""},
		{"unlimited", func(c *Config) { c.Unlimited = true }, ""},
		{"mesh on one address", func(c *Config) { c.MeshListen, c.MeshSecret = "10.0.0.5:7946", "s" }, ""},
		{"mesh on every interface, advertised", func(c *Config) {
			c.MeshListen, c.MeshAdvertise, c.MeshSecret = ":7946", "10.0.0.5:7946", "s"
		}, ""},

		{"mesh_listen without secret", func(c *Config) { c.MeshListen = "10.0.0.5:7946" }, "mesh_listen: needs mesh_secret"},
		{"mesh_listen garbage", func(c *Config) { c.MeshListen, c.MeshSecret = "mesh", "s" }, `mesh_listen: invalid address "mesh"`},
		{"mesh_listen name", func(c *Config) { c.MeshListen, c.MeshSecret = "relay.example:7946", "s" }, `mesh_listen: invalid address "relay.example:7946": host must be an IP address`},
		{"mesh_secret without listen", func(c *Config) { c.MeshSecret = "s" }, "mesh_secret: needs mesh_listen"},
		{"mesh_advertise without listen", func(c *Config) { c.MeshAdvertise = "10.0.0.5:7946" }, "mesh_advertise: needs mesh_listen"},
		{"mesh on every interface, not advertised", func(c *Config) { c.MeshListen, c.MeshSecret = "0.0.0.0:7946", "s" },
			`mesh_advertise: required when mesh_listen "0.0.0.0:7946" binds every interface`},
		{"mesh_advertise unspecified", func(c *Config) {
			c.MeshListen, c.MeshAdvertise, c.MeshSecret = ":7946", "[::]:7946", "s"
		}, `mesh_advertise: invalid address "[::]:7946"`},
		{"mesh_advertise port 0", func(c *Config) {
			c.MeshListen, c.MeshAdvertise, c.MeshSecret = ":7946", "10.0.0.5:0", "s"
		}, `mesh_advertise: invalid address "10.0.0.5:0": port must be`},

		{"listen empty", func(c *Config) { c.Listen = nil }, "listen: must list at least one multiaddr"},
		{"listen garbage", func(c *Config) { c.Listen = []string{"foo"} }, `listen: invalid multiaddr "foo": `},
		{"listen udp", func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/udp/1"} }, `listen: unsupported listen multiaddr "/ip4/127.0.0.1/udp/1"`},
		{"listen draft quic", func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/udp/1/quic"} }, `listen: unsupported listen multiaddr "/ip4/127.0.0.1/udp/1/quic"`},
		{"listen ws over udp", func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/udp/1/ws"} }, `listen: unsupported listen multiaddr "/ip4/127.0.0.1/udp/1/ws"`},
		{"listen sni", func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/tcp/1/tls/sni/a.example/ws"} }, `listen: unsupported listen multiaddr`},
		{"wss without tls_cert", func(c *Config) { c.Listen = []string{"/ip4/0.0.0.0/tcp/443/wss"} }, `tls_cert: required by the /wss listener "/ip4/0.0.0.0/tcp/443/wss"`},
		{"tls/ws without tls_cert", func(c *Config) { c.Listen = []string{"/ip4/0.0.0.0/tcp/443/tls/ws"} }, `tls_cert: required by the /wss listener "/ip4/0.0.0.0/tcp/443/tls/ws"`},
		{"acme instead of tls_cert", func(c *Config) {
			c.Listen = []string{"/ip4/0.0.0.0/tcp/443/wss"}
			c.ACMEDomains = []string{"relay.example.com"}
		}, ""},
		{"acme with tls_cert", func(c *Config) {
			c.Listen = []string{"/ip4/0.0.0.0/tcp/443/wss"}
			c.ACMEDomains, c.TLSCert, c.TLSKey = []string{"relay.example.com"}, "cert.pem", "key.pem"
		}, "acme_domains: cannot be used with tls_cert"},
		{"acme without wss", func(c *Config) { c.ACMEDomains = []string{"relay.example.com"} }, "acme_domains: needs a /wss listener"},
		{"acme bad domain", func(c *Config) {
			c.Listen = []string{"/ip4/0.0.0.0/tcp/443/wss"}
			c.ACMEDomains = []string{"relay_1.example.com"}
		}, `acme_domains: domain "relay_1.example.com": invalid character`},
		{"acme wildcard without dns", func(c *Config) {
			c.Listen = []string{"/ip4/0.0.0.0/tcp/443/wss"}
			c.ACMEDomains = []string{"*.example.com"}
		}, `acme_domains: domain "*.example.com": a wildcard needs DNS-01`},
		{"acme_ca http", func(c *Config) { c.ACMECA = "http://ca.example.com/dir" }, `acme_ca: CA URL "http://ca.example.com/dir": want an https ACME directory URL`},
		{"acme_http_listen no port", func(c *Config) { c.ACMEHTTPListen = "0.0.0.0" }, `acme_http_listen: invalid address "0.0.0.0"`},
		{"acme_dns_server bad port", func(c *Config) { c.ACMEDNSServer = "ns.example.com:dns" }, `acme_dns_server: invalid address "ns.example.com:dns": port`},
		{"tls_cert without tls_key", func(c *Config) { c.TLSCert = "cert.pem" }, `tls_key: required with tls_cert`},
		{"tls_key without tls_cert", func(c *Config) { c.TLSKey = "key.pem" }, `tls_cert: required with tls_key`},
		{"ws_path relative", func(c *Config) { c.WSPath = "p2p" }, `ws_path: must be a URL path starting with /, got "p2p"`},
		{"ws_path query", func(c *Config) { c.WSPath = "/p2p?x=1" }, `ws_path: must be a URL path starting with /`},
		{"ws_path empty", func(c *Config) { c.WSPath = "" }, `ws_path: must be a URL path starting with /`},
		{"listen dns", func(c *Config) { c.Listen = []string{"/dns4/localhost/tcp/1"} }, `listen: unsupported listen multiaddr "/dns4/localhost/tcp/1"`},
		{"listen no port", func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1"} }, `listen: unsupported listen multiaddr "/ip4/127.0.0.1"`},
		{"announce garbage", func(c *Config) { c.Announce = []string{"/ip4/300.1.1.1/tcp/1"} }, `announce: invalid multiaddr "/ip4/300.1.1.1/tcp/1": `},
		{"announce circuit", func(c *Config) { c.Announce = []string{"/ip4/192.0.2.1/tcp/1/p2p-circuit"} }, `announce: announce multiaddr "/ip4/192.0.2.1/tcp/1/p2p-circuit" must not contain /p2p-circuit`},
		{"identity empty", func(c *Config) { c.Identity = "" }, "identity: must not be empty"},
		{"reservation_ttl zero", func(c *Config) { c.ReservationTTL = 0 }, "reservation_ttl: must be >= 1s, got 0s"},
		{"reservation_ttl negative", func(c *Config) { c.ReservationTTL = -time.Hour }, "reservation_ttl: must be >= 1s, got -1h0m0s"},
		{"reservation_ttl fraction", func(c *Config) { c.ReservationTTL = 1500 * time.Millisecond }, "reservation_ttl: must be a whole number of seconds, got 1.5s"},
		{"max_reservations zero", func(c *Config) { c.MaxReservations = 0 }, "max_reservations: must be >= 1, got 0"},
		{"max_reservations negative", func(c *Config) { c.MaxReservations = -3 }, "max_reservations: must be >= 1, got -3"},
		{"max_circuits_per_peer zero", func(c *Config) { c.MaxCircuitsPerPeer = 0 }, "max_circuits_per_peer: must be >= 1, got 0"},
		{"limit_duration zero", func(c *Config) { c.LimitDuration = 0 }, "limit_duration: must be >= 1s, got 0s"},
		{"limit_duration sub-second", func(c *Config) { c.LimitDuration = 500 * time.Millisecond }, "limit_duration: must be >= 1s, got 500ms"},
		{"limit_duration fraction", func(c *Config) { c.LimitDuration = 1500 * time.Millisecond }, "limit_duration: must be a whole number of seconds, got 1.5s"},
		{"limit_duration over uint32", func(c *Config) { c.LimitDuration = (math.MaxUint32 + 1) * time.Second }, "limit_duration: must be <= 1193046h28m15s, got 1193046h28m16s"},
		{"limit_data negative", func(c *Config) { c.LimitData = -5 }, "limit_data: must be >= 0, got -5"},
		{"handshake_timeout zero", func(c *Config) { c.HandshakeTimeout = 0 }, "handshake_timeout: must be > 0, got 0s"},
		{"handshake_timeout negative", func(c *Config) { c.HandshakeTimeout = -time.Second }, "handshake_timeout: must be > 0, got -1s"},
		{"log_level unknown", func(c *Config) { c.LogLevel = "verbose" }, `log_level: must be one of [debug info warn error], got "verbose"`},
		{"log_level upper case", func(c *Config) { c.LogLevel = "INFO" }, `log_level: must be one of [debug info warn error], got "INFO"`},
		{"log_format unknown", func(c *Config) { c.LogFormat = "xml" }, `log_format: must be one of [text json], got "xml"`},
		{"log_format empty", func(c *Config) { c.LogFormat = "" }, `log_format: must be one of [text json], got ""`},
		{"admin_listen empty disables", func(c *Config) { c.AdminListen = "" }, ""},
		{"admin_listen ipv6", func(c *Config) { c.AdminListen = "[::1]:9090" }, ""},
		{"admin_listen localhost", func(c *Config) { c.AdminListen = "localhost:9090" }, ""},
		{"admin_listen all interfaces", func(c *Config) { c.AdminListen = ":9090" }, ""},
		{"admin_listen no port", func(c *Config) { c.AdminListen = "127.0.0.1" }, `admin_listen: invalid address "127.0.0.1": want host:port`},
		{"admin_listen name", func(c *Config) { c.AdminListen = "metrics.example.com:9090" }, `admin_listen: invalid address "metrics.example.com:9090": host must be an IP address or localhost`},
		{"admin_listen port range", func(c *Config) { c.AdminListen = "127.0.0.1:70000" }, `admin_listen: invalid address "127.0.0.1:70000": port must be a number from 0 to 65535`},
		{"admin_listen multiaddr", func(c *Config) { c.AdminListen = "/ip4/127.0.0.1/tcp/9090" }, `admin_listen: invalid address "/ip4/127.0.0.1/tcp/9090"`},
		{"drain_timeout zero", func(c *Config) { c.DrainTimeout = 0 }, ""},
		{"drain_timeout negative", func(c *Config) { c.DrainTimeout = -time.Second }, "drain_timeout: must be >= 0, got -1s"},
		{"memory_limit_percent off", func(c *Config) { c.MemoryLimitPercent = 0 }, ""},
		{"memory_limit_percent 101", func(c *Config) { c.MemoryLimitPercent = 101 }, "memory_limit_percent: must be between 0 and 100, got 101"},
		{"memory_limit_percent negative", func(c *Config) { c.MemoryLimitPercent = -1 }, "memory_limit_percent: must be between 0 and 100, got -1"},
		{"redis single", func(c *Config) { c.Redis = "redis://:secret@127.0.0.1:6379/1" }, ""},
		{"redis tls", func(c *Config) { c.Redis = "rediss://127.0.0.1:6379" }, ""},
		{"redis cluster", func(c *Config) { c.Redis = "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002" }, ""},
		{"redis scheme", func(c *Config) { c.Redis = "http://127.0.0.1:6379" }, `redis: invalid Redis URL "http://127.0.0.1:6379": scheme must be redis or rediss`},
		{"redis password not echoed", func(c *Config) { c.Redis = "http://u:secret@127.0.0.1:6379" }, `redis: invalid Redis URL "http://u:xxxxx@127.0.0.1:6379"`},
		{"redis_sentinel_master without redis", func(c *Config) { c.RedisSentinelMaster = "m" }, "redis_sentinel_master: needs redis"},
		{"redis_prefix empty", func(c *Config) { c.RedisPrefix = "" }, "redis_prefix: must not be empty"},
		{"redis_prefix brace", func(c *Config) { c.RedisPrefix = "a{b}:" }, "redis_prefix: must not contain { or }"},
		{"node_id space", func(c *Config) { c.NodeID = "relay 1" }, `node_id: must not contain spaces`},
		{"redis_unavailable", func(c *Config) { c.RedisUnavailable = "ignore" }, `redis_unavailable: must be one of [local refuse], got "ignore"`},
		{"heartbeat_ttl short", func(c *Config) { c.HeartbeatTTL = time.Second }, "heartbeat_ttl: must be >= 2s, got 1s"},
		{"quotas zero are no cap", func(c *Config) {
			c.MaxCircuits, c.MaxReservationsPerIP, c.MaxReservationsPerSubnet, c.MaxConns = 0, 0, 0, 0
		}, ""},
		{"rates off", func(c *Config) { c.ReserveRatePerIP, c.ConnRatePerIP = limiter.NoRate, limiter.NoRate }, ""},
		{"max_reservations_per_ip negative", func(c *Config) { c.MaxReservationsPerIP = -1 }, "max_reservations_per_ip: must be >= 0, got -1"},
		{"max_conns negative", func(c *Config) { c.MaxConns = -1 }, "max_conns: must be >= 0, got -1"},
		{"limit_rate negative", func(c *Config) { c.LimitRate = -1 }, "limit_rate: must be >= 0, got -1"},
		{"max_handshakes zero", func(c *Config) { c.MaxHandshakes = 0 }, "max_handshakes: must be >= 1, got 0"},
		{"rate without burst", func(c *Config) { c.ConnectRatePerIP = limiter.Rate{PerSecond: 1} }, "connect_rate_per_ip: want a rate above 0"},
		{"deny_peers garbage", func(c *Config) { c.DenyPeers = []string{"QmNope"} }, `deny_peers: invalid peer ID "QmNope"`},
		{"allow_cidrs garbage", func(c *Config) { c.AllowCIDRs = []string{"10.0.0.0/33"} }, `allow_cidrs: invalid CIDR "10.0.0.0/33"`},
		{"proxy_protocol_trusted garbage", func(c *Config) { c.ProxyProtocolTrusted = []string{"lb.example.com"} }, `proxy_protocol_trusted: invalid CIDR or IP "lb.example.com"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			tt.modify(&c)
			checkErrPrefix(t, c.Validate(), tt.want)
		})
	}
}

// checkErrPrefix wants no error for an empty want, otherwise a one-line
// error starting with want.
func checkErrPrefix(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want == "":
	case err == nil:
		t.Fatalf("no error, want %q", want)
	case !strings.HasPrefix(err.Error(), want):
		t.Fatalf("error %q, want prefix %q", err, want)
	case strings.Contains(err.Error(), "\n"):
		t.Fatalf("error spans lines: %q", err)
	}
}
