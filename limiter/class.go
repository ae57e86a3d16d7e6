package limiter

import (
	"net/netip"
	"time"

	"github.com/relayd/relayd/p2p/identity"
)

// Limit is what one circuit may use; zero fields mean no cap.
type Limit struct {
	Duration time.Duration
	Data     int64 // bytes per direction
	Rate     int64 // bytes per second per direction; not on the wire
}

// class is a Class with its limits resolved against the default class and
// its own rate buckets.
type class struct {
	name  string
	peers map[identity.PeerID]struct{}
	cidrs []netip.Prefix

	perIP, perSubnet, circuitsPerPeer int // negative: no cap
	limit                             Limit
	limited                           bool // false: no Limit goes on the wire

	reserveIP   *KeyedRate[netip.Prefix]
	reservePeer *KeyedRate[identity.PeerID]
	connectIP   *KeyedRate[netip.Prefix]
	connectPeer *KeyedRate[identity.PeerID]
}

// defaultClass builds the default class from c (defaults applied).
func defaultClass(c Config) *class {
	return newClass(DefaultClass, nil, nil, c, ClassLimits{})
}

// newClass resolves o against the default limits of c.
func newClass(name string, peers []identity.PeerID, cidrs []netip.Prefix, c Config, o ClassLimits) *class {
	cl := &class{
		name:            name,
		peers:           make(map[identity.PeerID]struct{}, len(peers)),
		cidrs:           cidrs,
		perIP:           orInt(o.MaxReservationsPerIP, c.MaxReservationsPerIP),
		perSubnet:       orInt(o.MaxReservationsPerSubnet, c.MaxReservationsPerSubnet),
		circuitsPerPeer: orInt(o.MaxCircuitsPerPeer, c.MaxCircuitsPerPeer),
		limited:         !c.Unlimited && !o.Unlimited,
		reserveIP:       NewKeyedRate[netip.Prefix](o.ReserveRatePerIP.Or(c.ReserveRatePerIP), 0),
		reservePeer:     NewKeyedRate[identity.PeerID](o.ReserveRatePerPeer.Or(c.ReserveRatePerPeer), 0),
		connectIP:       NewKeyedRate[netip.Prefix](o.ConnectRatePerIP.Or(c.ConnectRatePerIP), 0),
		connectPeer:     NewKeyedRate[identity.PeerID](o.ConnectRatePerPeer.Or(c.ConnectRatePerPeer), 0),
	}
	for _, p := range peers {
		cl.peers[p] = struct{}{}
	}
	cl.limit.Rate = max(orInt64(o.LimitRate, c.LimitRate), 0)
	if cl.limited {
		d := o.LimitDuration
		if d <= 0 {
			d = c.LimitDuration
		}
		cl.limit.Duration = max(d.Truncate(time.Second), time.Second)
		cl.limit.Data = max(orInt64(o.LimitData, c.LimitData), 0)
	}
	return cl
}

func orInt64(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

func (cl *class) matches(p identity.PeerID, ip netip.Addr) bool {
	if _, ok := cl.peers[p]; ok {
		return true
	}
	return inAny(cl.cidrs, ip)
}

func inAny(ps []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// allowReserve takes a RESERVE token from ip's and p's buckets. Both are
// taken even when the first refuses, so a peer cannot dodge its own bucket
// by exhausting its IP's.
func (cl *class) allowReserve(p identity.PeerID, ip netip.Addr, now time.Time) bool {
	a := cl.reserveIP.Allow(IPKey(ip), now)
	b := cl.reservePeer.Allow(p, now)
	return a && b
}

func (cl *class) allowConnect(p identity.PeerID, ip netip.Addr, now time.Time) bool {
	a := cl.connectIP.Allow(IPKey(ip), now)
	b := cl.connectPeer.Allow(p, now)
	return a && b
}

// policy is a validated Config compiled for lookups. It is immutable:
// Reload swaps in a new one.
type policy struct {
	cfg       Config
	denyPeers map[identity.PeerID]struct{}
	denyCIDRs []netip.Prefix
	classes   []*class
	def       *class
}

func compile(c Config) *policy {
	pol := &policy{
		cfg:       c,
		denyPeers: make(map[identity.PeerID]struct{}, len(c.DenyPeers)),
		denyCIDRs: c.DenyCIDRs,
		def:       defaultClass(c),
	}
	for _, p := range c.DenyPeers {
		pol.denyPeers[p] = struct{}{}
	}
	for _, cc := range c.Classes {
		pol.classes = append(pol.classes, newClass(cc.Name, cc.Peers, cc.CIDRs, c, cc.Limits))
	}
	return pol
}

func (pol *policy) denied(p identity.PeerID, ip netip.Addr) bool {
	if _, ok := pol.denyPeers[p]; ok {
		return true
	}
	return inAny(pol.denyCIDRs, ip)
}

// classOf is the class p (connected from ip) falls in; an invalid ip
// matches on the peer ID only.
func (pol *policy) classOf(p identity.PeerID, ip netip.Addr) *class {
	for _, cl := range pol.classes {
		if cl.matches(p, ip) {
			return cl
		}
	}
	return pol.def
}
