package main

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport/proxyproto"
)

// allowedClass names the class of allow_peers and allow_cidrs in logs and
// metrics.
const allowedClass = "allowed"

// policy is the part of Config that SIGHUP reloads, in the relay's types.
type policy struct {
	limits limiter.Config
	conns  host.ConnLimits
}

// policyOf maps the daemon's limits to the relay's. The daemon's 0 means
// "no cap" where the libraries' means "default", so zeros become -1.
// Allow-listed peers get limiter.Unrestricted: no circuit caps, no per-IP,
// per-subnet or per-peer quotas, no request rates (the node totals still
// hold).
func policyOf(c Config) (policy, error) {
	var p policy
	var err error
	l := limiter.Config{
		MaxReservations:          c.MaxReservations,
		MaxReservationsPerIP:     noCapIfZero(c.MaxReservationsPerIP),
		MaxReservationsPerSubnet: noCapIfZero(c.MaxReservationsPerSubnet),
		MaxCircuits:              noCapIfZero(c.MaxCircuits),
		MaxCircuitsPerPeer:       c.MaxCircuitsPerPeer,
		LimitDuration:            c.LimitDuration,
		LimitData:                c.LimitData,
		LimitRate:                c.LimitRate,
		Unlimited:                c.Unlimited,
		ReserveRatePerIP:         c.ReserveRatePerIP,
		ReserveRatePerPeer:       c.ReserveRatePerPeer,
		ConnectRatePerIP:         c.ConnectRatePerIP,
		ConnectRatePerPeer:       c.ConnectRatePerPeer,
	}
	if l.LimitData == 0 {
		l.LimitData = -1
	}
	if l.DenyPeers, err = parsePeers(c.DenyPeers); err != nil {
		return p, fmt.Errorf("deny_peers: %w", err)
	}
	if l.DenyCIDRs, err = parseCIDRs(c.DenyCIDRs); err != nil {
		return p, fmt.Errorf("deny_cidrs: %w", err)
	}
	allow := limiter.Class{Name: allowedClass, Limits: limiter.Unrestricted()}
	if allow.Peers, err = parsePeers(c.AllowPeers); err != nil {
		return p, fmt.Errorf("allow_peers: %w", err)
	}
	if allow.CIDRs, err = parseCIDRs(c.AllowCIDRs); err != nil {
		return p, fmt.Errorf("allow_cidrs: %w", err)
	}
	if l.Classes, err = namedClasses(c.Classes); err != nil {
		return p, err
	}
	if len(allow.Peers)+len(allow.CIDRs) > 0 {
		l.Classes = append(l.Classes, allow)
	}
	p.limits = l
	p.conns = host.ConnLimits{MaxConns: noCapIfZero(c.MaxConns), ConnRatePerIP: c.ConnRatePerIP}
	return p, nil
}

// namedClasses are the classes key's, in order; they come before
// "allowed", so a peer in both gets its named class.
func namedClasses(cs []ClassConfig) ([]limiter.Class, error) {
	out := make([]limiter.Class, 0, len(cs)+1)
	for _, cc := range cs {
		cl, err := cc.limiterClass()
		if err != nil {
			return nil, fmt.Errorf("classes: %w", err)
		}
		out = append(out, cl)
	}
	return out, nil
}

func noCapIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// proxyConfig is the PROXY protocol setting: on for the trusted CIDRs.
func proxyConfig(c Config) (proxyproto.Config, error) {
	trusted, err := parseCIDRs(c.ProxyProtocolTrusted)
	if err != nil {
		return proxyproto.Config{}, fmt.Errorf("proxy_protocol_trusted: %w", err)
	}
	return proxyproto.Config{Trusted: trusted}, nil
}

func parsePeers(ss []string) ([]identity.PeerID, error) {
	out := make([]identity.PeerID, 0, len(ss))
	for _, s := range ss {
		p, err := identity.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("invalid peer ID %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func checkPeerID(s string) error {
	_, err := parsePeers([]string{s})
	return err
}

// parseCIDRs takes CIDRs, and bare IPs as single-address ranges.
func parseCIDRs(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := parseCIDR(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR or IP %q", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	return p.Masked(), nil
}

func checkCIDR(s string) error {
	_, err := parseCIDR(s)
	return err
}

// checkAtLeastZero is checkAtLeast(v, 0) for the fields whose 0 means
// "no cap".
func checkAtLeastZero(v int64) error { return checkAtLeast(v, 0) }

// rateValue is a token bucket written N/UNIT:BURST (UNIT s, m or h; for
// example 1/s:8 or 6/m:4), or 0 or off for no limit. Without :BURST the
// burst is one second's worth, at least 1.
type rateValue struct{ p *limiter.Rate }

var rateUnits = []struct {
	name string
	secs float64
}{{"s", 1}, {"m", 60}, {"h", 3600}}

func (v rateValue) Set(s string) error {
	r, err := parseRate(s)
	if err != nil {
		return err
	}
	*v.p = r
	return nil
}

func parseRate(s string) (limiter.Rate, error) {
	if s == "0" || s == "off" {
		return limiter.NoRate, nil
	}
	bad := fmt.Errorf("invalid rate %q (want N/UNIT:BURST with UNIT s, m or h, e.g. 1/s:8 or 6/m:4; or 0 for none)", s)
	spec, burstText, hasBurst := strings.Cut(s, ":")
	num, unit, ok := strings.Cut(spec, "/")
	n, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || !(n > 0) || math.IsInf(n, 0) {
		return limiter.Rate{}, bad
	}
	r := limiter.Rate{PerSecond: -1}
	for _, u := range rateUnits {
		if unit == u.name {
			r.PerSecond = n / u.secs
		}
	}
	if r.PerSecond < 0 {
		return limiter.Rate{}, bad
	}
	r.Burst = max(1, int(math.Ceil(r.PerSecond)))
	if hasBurst {
		if r.Burst, err = strconv.Atoi(burstText); err != nil || r.Burst < 1 {
			return limiter.Rate{}, bad
		}
	}
	return r, nil
}

// String writes the rate in the largest unit that keeps N whole, so 0.1/s
// prints as 6/m.
func (v rateValue) String() string { return formatRate(*v.p) }

func formatRate(r limiter.Rate) string {
	if r.Unlimited() {
		return "0"
	}
	for _, u := range rateUnits {
		n := r.PerSecond * u.secs
		if math.Abs(n-math.Round(n)) < 1e-9 {
			return fmt.Sprintf("%s/%s:%d", strconv.FormatFloat(math.Round(n), 'f', -1, 64), u.name, r.Burst)
		}
	}
	return fmt.Sprintf("%s/s:%d", strconv.FormatFloat(r.PerSecond, 'f', -1, 64), r.Burst)
}

func (v rateValue) field() any { return v.p }

// checkRate accepts what parseRate produces.
func checkRate(r limiter.Rate) error {
	if r.Unlimited() {
		return nil
	}
	if !(r.PerSecond > 0) || math.IsInf(r.PerSecond, 0) || r.Burst < 1 {
		return errors.New("want a rate above 0 with a burst of at least 1, or 0 for none")
	}
	return nil
}
