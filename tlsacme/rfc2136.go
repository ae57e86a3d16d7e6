package tlsacme

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
)

// RFC2136Config configures NewRFC2136.
type RFC2136Config struct {
	// Server is host:port of the primary DNS server that accepts dynamic
	// updates (RFC 2136) for the challenge names' zone. Required.
	Server string
	// TSIGKeyFile is a key in the format BIND's tsig-keygen writes
	// (key "name" { algorithm hmac-sha256; secret "base64"; };), which
	// signs every update. Default: empty, unsigned updates.
	TSIGKeyFile string
	// Timeout bounds one update exchange. Default 10 s.
	Timeout time.Duration
}

// RFC2136 is a libdns provider (certmagic.DNSProvider) that adds and
// removes the DNS-01 TXT records by RFC 2136 dynamic updates over TCP,
// signed with TSIG. It is the one provider relayd wires: BIND, Knot,
// PowerDNS, Windows DNS and many hosted services accept such updates.
//
// Another provider is any libdns.RecordAppender and RecordDeleter (the
// github.com/libdns modules): set it as Config.DNSProvider, and in
// cmd/relayd add the settings it needs next to acme_dns_server and build
// it in newACME.
type RFC2136 struct {
	cfg    RFC2136Config
	key    string // TSIG key name, FQDN; "" for unsigned
	alg    string // TSIG algorithm, FQDN (dns.HmacSHA256)
	secret string // base64
}

// NewRFC2136 reads the TSIG key, if any.
func NewRFC2136(cfg RFC2136Config) (*RFC2136, error) {
	if cfg.Server == "" {
		return nil, errors.New("rfc2136: no server")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	p := &RFC2136{cfg: cfg}
	if cfg.TSIGKeyFile != "" {
		b, err := os.ReadFile(cfg.TSIGKeyFile)
		if err != nil {
			return nil, fmt.Errorf("rfc2136: %w", err)
		}
		if p.key, p.alg, p.secret, err = ParseTSIGKey(string(b)); err != nil {
			return nil, fmt.Errorf("rfc2136: %s: %w", cfg.TSIGKeyFile, err)
		}
	}
	return p, nil
}

var (
	keyRE    = regexp.MustCompile(`key\s+"?([^"\s{]+)"?\s*\{`)
	algRE    = regexp.MustCompile(`algorithm\s+"?([A-Za-z0-9-]+)"?\s*;`)
	secretRE = regexp.MustCompile(`secret\s+"([A-Za-z0-9+/=]+)"\s*;`)
)

// tsigAlgorithms are the HMACs miekg/dns signs with.
var tsigAlgorithms = map[string]string{
	"hmac-sha1": dns.HmacSHA1, "hmac-sha224": dns.HmacSHA224, "hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384, "hmac-sha512": dns.HmacSHA512,
}

// ParseTSIGKey reads one key in tsig-keygen's format and returns its name
// and algorithm as FQDNs, and its base64 secret.
func ParseTSIGKey(s string) (name, alg, secret string, err error) {
	k, a, sec := keyRE.FindStringSubmatch(s), algRE.FindStringSubmatch(s), secretRE.FindStringSubmatch(s)
	if k == nil || a == nil || sec == nil {
		return "", "", "", errors.New(`want a key as tsig-keygen writes it: key "name" { algorithm hmac-sha256; secret "..."; };`)
	}
	alg, ok := tsigAlgorithms[strings.ToLower(a[1])]
	if !ok {
		return "", "", "", fmt.Errorf("unsupported TSIG algorithm %q", a[1])
	}
	return dns.Fqdn(strings.ToLower(k[1])), alg, sec[1], nil
}

// AppendRecords adds the TXT records to zone.
func (p *RFC2136) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, err := txtRRs(zone, recs)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.Insert(rrs)
	if err := p.exchange(ctx, m); err != nil {
		return nil, err
	}
	return recs, nil
}

// DeleteRecords removes exactly these TXT records from zone; absent ones
// are no error (an RFC 2136 delete of a missing RR succeeds).
func (p *RFC2136) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, err := txtRRs(zone, recs)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.Remove(rrs)
	if err := p.exchange(ctx, m); err != nil {
		return nil, err
	}
	return recs, nil
}

// txtRRs converts libdns records (only TXT: DNS-01 needs nothing else).
func txtRRs(zone string, recs []libdns.Record) ([]dns.RR, error) {
	out := make([]dns.RR, 0, len(recs))
	for _, r := range recs {
		rr := r.RR()
		if rr.Type != "TXT" {
			return nil, fmt.Errorf("rfc2136: record type %s not supported (only TXT)", rr.Type)
		}
		ttl := uint32(rr.TTL / time.Second)
		if ttl == 0 {
			ttl = 60
		}
		out = append(out, &dns.TXT{
			Hdr: dns.RR_Header{Name: libdns.AbsoluteName(rr.Name, dns.Fqdn(zone)), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
			Txt: chunks(rr.Data, 255),
		})
	}
	return out, nil
}

// chunks splits s into TXT character-strings of at most n bytes.
func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func (p *RFC2136) exchange(ctx context.Context, m *dns.Msg) error {
	c := &dns.Client{Net: "tcp", Timeout: p.cfg.Timeout}
	if p.key != "" {
		m.SetTsig(p.key, p.alg, 300, time.Now().Unix())
		c.TsigSecret = map[string]string{p.key: p.secret}
	}
	resp, _, err := c.ExchangeContext(ctx, m, p.cfg.Server)
	if err != nil {
		return fmt.Errorf("rfc2136: update via %s: %w", p.cfg.Server, err)
	}
	if resp.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("rfc2136: %s refused the update: %s", p.cfg.Server, dns.RcodeToString[resp.Rcode])
	}
	return nil
}
