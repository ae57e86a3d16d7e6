package limiter

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

// Config is the node's policy. The zero value of a field means the default
// written on it; for counts and caps a negative value means "no cap". The
// flat limit fields are those of the default class, the class of every
// peer no Class matches.
//
// Everything but Now and Tracer can change at run time (Limiter.Reload).
type Config struct {
	// MaxReservations caps the reservations this node holds. Default 128.
	MaxReservations int
	// MaxReservationsPerIP caps the reservations held by peers connected
	// from one IP (IPv6: one /64). Default 8.
	MaxReservationsPerIP int
	// MaxReservationsPerSubnet caps the reservations held from one IPv4
	// /24 or IPv6 /56. Default 32.
	MaxReservationsPerSubnet int

	// MaxCircuits caps the circuits this node relays at once. Default 1024.
	MaxCircuits int
	// MaxCircuitsPerPeer caps a peer's open circuits, counted whether it
	// is the circuit's source or destination (as go-libp2p counts).
	// Default 16.
	MaxCircuitsPerPeer int
	// LimitDuration caps a circuit's lifetime. Default 2 min. Rounded down
	// to whole seconds on the wire (at least 1 s).
	LimitDuration time.Duration
	// LimitData caps the bytes a circuit carries in each direction.
	// Default 131072 (128 KiB); negative means no data cap (only the
	// duration applies, sent as Limit.data = 0).
	LimitData int64
	// LimitRate paces each direction of a circuit to this many bytes a
	// second (a token bucket; the splice waits, it never cuts). Default 0:
	// no pacing. Not on the wire: the spec's Limit has no rate.
	LimitRate int64
	// Unlimited drops the duration and data caps: circuits carry no Limit
	// at all, and clients treat them as ordinary connections.
	Unlimited bool

	// ReserveRatePerIP limits RESERVE requests from one IP (IPv6: /64).
	// Default 1/s, burst 8.
	ReserveRatePerIP Rate
	// ReserveRatePerPeer limits RESERVE requests from one peer. Default
	// one per 10 s, burst 4: a refresh is due once per reservation TTL.
	ReserveRatePerPeer Rate
	// ConnectRatePerIP limits CONNECT requests from one IP (IPv6: /64).
	// Default 10/s, burst 32.
	ConnectRatePerIP Rate
	// ConnectRatePerPeer limits CONNECT requests from one peer. Default
	// 4/s, burst 16.
	ConnectRatePerPeer Rate

	// DenyPeers and DenyCIDRs are refused everything (PERMISSION_DENIED),
	// whatever class they would fall in.
	DenyPeers []identity.PeerID
	DenyCIDRs []netip.Prefix
	// Classes are named classes with their own limits, tried in order; a
	// peer falls in the first whose Peers or CIDRs match it, else in the
	// default class.
	Classes []Class

	// Now is the clock. Default time.Now. Reload keeps the first one.
	Now func() time.Time
	// Tracer receives every decision. Default: NopTracer. Reload keeps
	// the first one.
	Tracer Tracer
}

// Class names: the default class and the label of denied requests.
const (
	DefaultClass = "default"
	DeniedClass  = "denied"
)

// Class is a named set of peers with their own limits.
type Class struct {
	// Name labels the class in logs and metrics: lower case letters,
	// digits and underscores; not "default" or "denied".
	Name  string
	Peers []identity.PeerID
	CIDRs []netip.Prefix
	// Limits override the default class's; zero fields keep its values.
	Limits ClassLimits
}

// ClassLimits are a class's overrides. A zero field means the default
// class's value; a negative count, cap or rate means none.
type ClassLimits struct {
	MaxReservationsPerIP     int
	MaxReservationsPerSubnet int
	MaxCircuitsPerPeer       int
	LimitDuration            time.Duration
	LimitData                int64
	LimitRate                int64
	// Unlimited drops the duration and data caps for the class. A class
	// under an Unlimited default is unlimited too.
	Unlimited          bool
	ReserveRatePerIP   Rate
	ReserveRatePerPeer Rate
	ConnectRatePerIP   Rate
	ConnectRatePerPeer Rate
}

// Unrestricted is the limits of a fully trusted class: no circuit caps,
// no per-IP or per-subnet reservation quota, no per-peer circuit quota and
// no request rates. The node-wide totals still apply.
func Unrestricted() ClassLimits {
	return ClassLimits{
		MaxReservationsPerIP:     -1,
		MaxReservationsPerSubnet: -1,
		MaxCircuitsPerPeer:       -1,
		LimitRate:                -1,
		Unlimited:                true,
		ReserveRatePerIP:         NoRate,
		ReserveRatePerPeer:       NoRate,
		ConnectRatePerIP:         NoRate,
		ConnectRatePerPeer:       NoRate,
	}
}

// ClassNames are the class labels c can produce: "default", "denied" and
// each Class's name.
func (c Config) ClassNames() []string {
	out := []string{DefaultClass, DeniedClass}
	for _, cl := range c.Classes {
		out = append(out, cl.Name)
	}
	return out
}

// Defaults returns c with every zero field set to its default.
func (c Config) Defaults() Config {
	c.MaxReservations = orInt(c.MaxReservations, 128)
	c.MaxReservationsPerIP = orInt(c.MaxReservationsPerIP, 8)
	c.MaxReservationsPerSubnet = orInt(c.MaxReservationsPerSubnet, 32)
	c.MaxCircuits = orInt(c.MaxCircuits, 1024)
	c.MaxCircuitsPerPeer = orInt(c.MaxCircuitsPerPeer, 16)
	if c.LimitDuration <= 0 {
		c.LimitDuration = 2 * time.Minute
	}
	c.LimitDuration = max(c.LimitDuration.Truncate(time.Second), time.Second)
	if c.LimitData == 0 {
		c.LimitData = 128 << 10
	}
	c.ReserveRatePerIP = c.ReserveRatePerIP.Or(Rate{PerSecond: 1, Burst: 8})
	c.ReserveRatePerPeer = c.ReserveRatePerPeer.Or(Rate{PerSecond: 0.1, Burst: 4})
	c.ConnectRatePerIP = c.ConnectRatePerIP.Or(Rate{PerSecond: 10, Burst: 32})
	c.ConnectRatePerPeer = c.ConnectRatePerPeer.Or(Rate{PerSecond: 4, Burst: 16})
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Tracer == nil {
		c.Tracer = NopTracer{}
	}
	return c
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

var classNameRE = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// Validate reports the first invalid field, named.
func (c Config) Validate() error {
	if c.LimitDuration/time.Second > math.MaxUint32 {
		return fmt.Errorf("LimitDuration: at most %d s, got %s", uint32(math.MaxUint32), c.LimitDuration)
	}
	rates := map[string]Rate{
		"ReserveRatePerIP": c.ReserveRatePerIP, "ReserveRatePerPeer": c.ReserveRatePerPeer,
		"ConnectRatePerIP": c.ConnectRatePerIP, "ConnectRatePerPeer": c.ConnectRatePerPeer,
	}
	for name, r := range rates {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := checkACL(c.DenyPeers, c.DenyCIDRs); err != nil {
		return fmt.Errorf("deny list: %w", err)
	}
	return c.validateClasses()
}

func (c Config) validateClasses() error {
	seen := map[string]bool{DefaultClass: true, DeniedClass: true}
	for i, cl := range c.Classes {
		if !classNameRE.MatchString(cl.Name) {
			return fmt.Errorf("Classes[%d]: name %q: want 1-32 of a-z, 0-9 and _", i, cl.Name)
		}
		if seen[cl.Name] {
			return fmt.Errorf("Classes[%d]: name %q is reserved or given twice", i, cl.Name)
		}
		seen[cl.Name] = true
		if err := cl.validate(); err != nil {
			return fmt.Errorf("class %s: %w", cl.Name, err)
		}
	}
	return nil
}

func (cl Class) validate() error {
	if err := checkACL(cl.Peers, cl.CIDRs); err != nil {
		return err
	}
	if cl.Limits.LimitDuration/time.Second > math.MaxUint32 {
		return fmt.Errorf("LimitDuration: at most %d s", uint32(math.MaxUint32))
	}
	for _, r := range []Rate{cl.Limits.ReserveRatePerIP, cl.Limits.ReserveRatePerPeer,
		cl.Limits.ConnectRatePerIP, cl.Limits.ConnectRatePerPeer} {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

func checkACL(peers []identity.PeerID, cidrs []netip.Prefix) error {
	for _, p := range peers {
		if p == "" {
			return errors.New("empty peer ID")
		}
	}
	for _, p := range cidrs {
		if !p.IsValid() {
			return fmt.Errorf("invalid CIDR %v", p)
		}
	}
	return nil
}
