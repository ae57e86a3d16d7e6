package tlsacme

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// LetsEncrypt is the default CA: Let's Encrypt's production directory.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Config configures a Manager. Zero values mean the defaults written on
// each field.
type Config struct {
	// Domains are the DNS names to hold certificates for, one certificate
	// each. Required. A "*." wildcard needs DNSProvider.
	Domains []string
	// Email is the ACME account's contact address. Default: none (the CA
	// cannot warn about expiry).
	Email string
	// CA is the ACME directory URL (RFC 8555), https only. Default:
	// LetsEncrypt (production).
	CA string
	// CARootFile is a PEM file of extra roots trusted for the CA's own
	// HTTPS (a private CA, pebble); the system roots stay trusted.
	// Default: system roots only.
	CARootFile string

	// Storage holds accounts, keys and certificates. Default: Redis when
	// Redis is set, else files under StorageDir.
	Storage certmagic.Storage
	// Redis, when set and Storage is not, stores everything in Redis so
	// that a fleet shares one account, one order per name and the
	// challenge answers (RedisStorage). The caller owns the client.
	Redis redis.UniversalClient
	// RedisPrefix starts every Redis key (RedisStorageConfig.Prefix).
	// Default "relayd:{acme}:".
	RedisPrefix string
	// StorageDir is the FileStorage directory used without Redis.
	// Required then.
	StorageDir string

	// HTTPListen is host:port of an HTTP server answering HTTP-01
	// challenges (and 404 to everything else); it must be what the CA
	// reaches on port 80. Default: empty, no HTTP-01.
	HTTPListen string
	// DNSProvider answers DNS-01 challenges (any libdns provider; see
	// NewDNSProvider). When set, DNS-01 is the only challenge used, so it
	// works whatever port the relay listens on. Default: none.
	DNSProvider certmagic.DNSProvider
	// DNSResolvers are the resolvers (host:port) that find the zone of a
	// challenge name and whether its record has propagated. Default: the
	// system's.
	DNSResolvers []string
	// DNSPropagationTimeout bounds the wait for a DNS-01 record to show on
	// every authoritative server before the CA is asked to look; -1 skips
	// the check. Default 2 min.
	DNSPropagationTimeout time.Duration

	// RenewCheckInterval is how often certificates are checked for
	// renewal. Default 10 min (certmagic's).
	RenewCheckInterval time.Duration
	// RenewalWindowRatio is the share of a certificate's lifetime left
	// when renewal starts. Default 1/3.
	RenewalWindowRatio float64
	// RetryMin and RetryMax bound the backoff between attempts to obtain
	// a missing certificate (CA down, order refused): it starts at
	// RetryMin and doubles up to RetryMax. Default 30 s and 30 min.
	RetryMin, RetryMax time.Duration

	// OnNames is called, from the manager's goroutine, with the domains
	// that have a certificate each time that set grows (relayd announces
	// them). Default: none.
	OnNames func(names []string)
	// Logger receives the manager's and certmagic's logs. Default:
	// discard.
	Logger *slog.Logger
	// Metrics receives the collectors (see doc.go). Default: none.
	Metrics prometheus.Registerer
}

func (c Config) withDefaults() Config {
	if c.CA == "" {
		c.CA = LetsEncrypt
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 30 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 30 * time.Minute
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	if c.RenewalWindowRatio <= 0 {
		c.RenewalWindowRatio = 1.0 / 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first problem in c, naming the field.
func (c Config) Validate() error {
	if len(c.Domains) == 0 {
		return errors.New("tlsacme: no domain")
	}
	for _, d := range c.Domains {
		if err := CheckDomain(d); err != nil {
			return err
		}
		if strings.HasPrefix(d, "*.") && c.DNSProvider == nil {
			return fmt.Errorf("domain %q: a wildcard needs the DNS-01 challenge (a DNS provider)", d)
		}
	}
	if c.CA != "" {
		if err := CheckCA(c.CA); err != nil {
			return err
		}
	}
	if c.Storage == nil && c.Redis == nil && c.StorageDir == "" {
		return errors.New("tlsacme: no storage: set StorageDir, Redis or Storage")
	}
	if c.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTPListen); err != nil {
			return fmt.Errorf("http listen address %q: %w", c.HTTPListen, err)
		}
	}
	return nil
}

// CheckDomain accepts a DNS name of two or more letter-digit-hyphen
// labels, optionally starting with "*.", and rejects IP addresses.
func CheckDomain(d string) error {
	bad := func(why string) error { return fmt.Errorf("domain %q: %s", d, why) }
	if net.ParseIP(d) != nil {
		return bad("an IP address; ACME certificates here are for DNS names")
	}
	name := strings.TrimPrefix(d, "*.")
	if len(name) == 0 || len(name) > 253 {
		return bad("must be 1 to 253 characters")
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return bad("needs at least two labels, e.g. relay.example.com")
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return bad(err.Error())
		}
	}
	return nil
}

func checkLabel(l string) error {
	if len(l) == 0 || len(l) > 63 {
		return errors.New("every label must be 1 to 63 characters")
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return errors.New("a label must not start or end with '-'")
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("invalid character %q (lower-case letters, digits and '-' only)", r)
		}
	}
	return nil
}

// CheckCA accepts an absolute https URL with a host: an ACME directory.
func CheckCA(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("CA URL %q: %w", s, err)
	}
	if u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("CA URL %q: want an https ACME directory URL, e.g. %s", s, LetsEncrypt)
	}
	return nil
}

// rootPool is the system roots plus those in file.
func rootPool(file string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA root: %w", err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA root %s: no PEM certificate in it", file)
	}
	return pool, nil
}
