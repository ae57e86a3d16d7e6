package main

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/relayd/relayd/limiter"
)

// ClassConfig is one named class of classes. The comment on each field is
// the text of the class-keys table in docs/config.md. An override left out
// (nil, or false for unlimited) keeps the value of the default class, the
// top-level key of the same name; given, it has that key's syntax and
// meaning.
type ClassConfig struct {
	// Name of the class in logs and metrics (the class label): 1 to 32 of
	// a-z, 0-9 and _, unique, and not default, allowed or denied.
	// Required.
	Name string `yaml:"name"`

	// Peer IDs in the class. A class needs at least one entry in peers or
	// cidrs.
	Peers []string `yaml:"peers"`

	// Client address ranges (CIDRs, or single IPs) in the class.
	CIDRs []string `yaml:"cidrs"`

	// Maximum lifetime of the class's circuits, whole seconds.
	LimitDuration *time.Duration `yaml:"limit_duration"`

	// Maximum bytes per direction of the class's circuits; 0 means no data
	// cap.
	LimitData *int64 `yaml:"limit_data"`

	// Pace each direction of the class's circuits to this many bytes a
	// second; 0 means no pacing.
	LimitRate *int64 `yaml:"limit_rate"`

	// true: the class's circuits carry no Limit. false or absent keeps the
	// default class's setting (a class cannot re-limit what the top-level
	// unlimited lifts).
	Unlimited bool `yaml:"unlimited"`

	// Maximum concurrent circuits per peer of the class; at least 1.
	MaxCircuitsPerPeer *int `yaml:"max_circuits_per_peer"`

	// Maximum reservations per client IP (IPv6: /64) in the class; 0
	// means no cap.
	MaxReservationsPerIP *int `yaml:"max_reservations_per_ip"`

	// Maximum reservations per IPv4 /24 or IPv6 /56 in the class; 0 means
	// no cap.
	MaxReservationsPerSubnet *int `yaml:"max_reservations_per_subnet"`

	// RESERVE requests per IP (IPv6: /64), N/UNIT:BURST; 0 means no limit.
	ReserveRatePerIP *limiter.Rate `yaml:"reserve_rate_per_ip"`

	// RESERVE requests per peer, N/UNIT:BURST; 0 means no limit.
	ReserveRatePerPeer *limiter.Rate `yaml:"reserve_rate_per_peer"`

	// CONNECT requests per IP (IPv6: /64), N/UNIT:BURST; 0 means no limit.
	ConnectRatePerIP *limiter.Rate `yaml:"connect_rate_per_ip"`

	// CONNECT requests per peer, N/UNIT:BURST; 0 means no limit.
	ConnectRatePerPeer *limiter.Rate `yaml:"connect_rate_per_peer"`
}

// classBindings binds every ClassConfig field to its key, in the order the
// compact form, --print-config and docs/config.md list them. The values
// are the top-level parsers, so a key reads the same inside a class.
func classBindings(cc *ClassConfig) []binding {
	return []binding{
		{"name", "NAME", "class name", stringValue{&cc.Name}},
		{"peers", "PEER", "peer IDs in the class", &listValue{p: &cc.Peers, check: checkPeerID}},
		{"cidrs", "CIDR", "client address ranges in the class", &listValue{p: &cc.CIDRs, check: checkCIDR}},
		{"limit_duration", "DURATION", "circuit lifetime", optValue[time.Duration]{&cc.LimitDuration, durationOf}},
		{"limit_data", "BYTES", "bytes per direction; 0 = no data cap", optValue[int64]{&cc.LimitData, intOf[int64]}},
		{"limit_rate", "BYTES", "bytes a second per direction; 0 = no pacing", optValue[int64]{&cc.LimitRate, intOf[int64]}},
		{"unlimited", "", "circuits without a Limit", boolValue{&cc.Unlimited}},
		{"max_circuits_per_peer", "N", "circuits per peer", optValue[int]{&cc.MaxCircuitsPerPeer, intOf[int]}},
		{"max_reservations_per_ip", "N", "reservations per IP; 0 = no cap", optValue[int]{&cc.MaxReservationsPerIP, intOf[int]}},
		{"max_reservations_per_subnet", "N", "reservations per subnet; 0 = no cap", optValue[int]{&cc.MaxReservationsPerSubnet, intOf[int]}},
		{"reserve_rate_per_ip", "RATE", "RESERVE per IP", optValue[limiter.Rate]{&cc.ReserveRatePerIP, rateOf}},
		{"reserve_rate_per_peer", "RATE", "RESERVE per peer", optValue[limiter.Rate]{&cc.ReserveRatePerPeer, rateOf}},
		{"connect_rate_per_ip", "RATE", "CONNECT per IP", optValue[limiter.Rate]{&cc.ConnectRatePerIP, rateOf}},
		{"connect_rate_per_peer", "RATE", "CONNECT per peer", optValue[limiter.Rate]{&cc.ConnectRatePerPeer, rateOf}},
	}
}

func durationOf(p *time.Duration) value { return durationValue{p} }
func intOf[T int | int64](p *T) value   { return intValue[T]{p} }
func rateOf(p *limiter.Rate) value      { return rateValue{p} }
func classBindingMap(cc *ClassConfig) map[string]value {
	m := make(map[string]value)
	for _, b := range classBindings(cc) {
		m[b.key] = b.value
	}
	return m
}

// optValue is an override that may be absent: nil until Set, then parsed
// by the top-level key's value.
type optValue[T any] struct {
	p     **T
	inner func(*T) value
}

func (v optValue[T]) Set(s string) error {
	x := new(T)
	if err := v.inner(x).Set(s); err != nil {
		return err
	}
	*v.p = x
	return nil
}

func (v optValue[T]) String() string {
	if *v.p == nil {
		return ""
	}
	return v.inner(*v.p).String()
}

func (v optValue[T]) field() any { return v.p }

// unwrap is the value of a present override, nil for an absent one.
func (v optValue[T]) unwrap() value {
	if *v.p == nil {
		return nil
	}
	return v.inner(*v.p)
}

// present reports whether a class key would be printed: absent overrides,
// unset lists and a false unlimited are left out, so printing and parsing
// round-trip.
func present(v value) bool {
	switch v := v.(type) {
	case interface{ unwrap() value }:
		return v.unwrap() != nil
	case *listValue:
		return *v.p != nil
	case boolValue:
		return *v.p
	}
	return true
}

// classesValue is the list of classes. Like listValue, the first Set
// replaces the list and later ones append. A Set takes one class in the
// compact form "name=x;peers=a,b;limit_data=0" (semicolons between keys,
// commas inside lists), or several separated by spaces, which is how an
// environment variable carries more than one.
type classesValue struct {
	p   *[]ClassConfig
	set bool
}

func (v *classesValue) Set(s string) error {
	if !v.set {
		*v.p, v.set = []ClassConfig{}, true
	}
	for _, spec := range strings.Fields(s) {
		cc, err := parseClass(spec, len(*v.p))
		if err != nil {
			return err
		}
		*v.p = append(*v.p, cc)
	}
	return nil
}

// parseClass reads the compact form; errors name classes[i] and the key.
func parseClass(spec string, i int) (ClassConfig, error) {
	var cc ClassConfig
	byKey, seen := classBindingMap(&cc), make(map[string]bool)
	for part := range strings.SplitSeq(spec, ";") {
		if part == "" {
			continue
		}
		k, s, ok := strings.Cut(part, "=")
		val, known := byKey[k]
		switch {
		case !ok:
			return cc, fmt.Errorf("classes[%d]: %q: want key=value", i, part)
		case !known:
			return cc, fmt.Errorf("classes[%d]: unknown key %q", i, k)
		case seen[k]:
			return cc, fmt.Errorf("classes[%d].%s: key given twice", i, k)
		}
		seen[k] = true
		if err := val.Set(s); err != nil {
			return cc, fmt.Errorf("classes[%d].%s: %w", i, k, err)
		}
	}
	return cc, nil
}

func (v *classesValue) String() string {
	specs := make([]string, 0, len(*v.p))
	for i := range *v.p {
		specs = append(specs, formatClass(&(*v.p)[i]))
	}
	return strings.Join(specs, " ")
}

func formatClass(cc *ClassConfig) string {
	var parts []string
	for _, b := range classBindings(cc) {
		if present(b.value) {
			parts = append(parts, b.key+"="+b.value.String())
		}
	}
	return strings.Join(parts, ";")
}

func (v *classesValue) field() any { return v.p }

// decodeNode sets the list from a YAML sequence of mappings; null is the
// empty list. Its errors are complete: "line N: classes[i].key: ...".
func (v *classesValue) decodeNode(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	out := []ClassConfig{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*v.p, v.set = out, true
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: classes: want a list of classes (mappings with name, peers, ...)", n.Line)
	}
	for i, it := range n.Content {
		cc, err := decodeClass(it, i)
		if err != nil {
			return err
		}
		out = append(out, cc)
	}
	*v.p, v.set = out, true
	return nil
}

func decodeClass(n *yaml.Node, i int) (ClassConfig, error) {
	var cc ClassConfig
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return cc, fmt.Errorf("line %d: classes[%d]: want a mapping of keys to values", n.Line, i)
	}
	byKey, seen := classBindingMap(&cc), make(map[string]bool)
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, vn := n.Content[j], n.Content[j+1]
		val, ok := byKey[k.Value]
		switch {
		case !ok:
			return cc, fmt.Errorf("line %d: classes[%d]: unknown key %q", k.Line, i, k.Value)
		case seen[k.Value]:
			return cc, fmt.Errorf("line %d: classes[%d].%s: key given twice", k.Line, i, k.Value)
		}
		seen[k.Value] = true
		if err := setFromNode(val, vn); err != nil {
			return cc, fmt.Errorf("line %d: classes[%d].%s: %w", k.Line, i, k.Value, err)
		}
	}
	return cc, nil
}

// classesNode prints the classes as a sequence of mappings holding only
// the keys present.
func classesNode(cs []ClassConfig) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	if len(cs) == 0 {
		seq.Style = yaml.FlowStyle
	}
	for i := range cs {
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, b := range classBindings(&cs[i]) {
			if present(b.value) {
				m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: b.key}, valueNode(b.value))
			}
		}
		seq.Content = append(seq.Content, m)
	}
	return seq
}

// classNameRE is limiter's rule for class names (no '-': the limiter
// rejects it).
var classNameRE = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// reservedClasses are the built-in class labels.
var reservedClasses = []string{limiter.DefaultClass, allowedClass, limiter.DeniedClass}

// checkClasses validates each class; its errors name the field in full,
// "classes[i].key: ...".
func checkClasses(cs []ClassConfig) error {
	seen := make(map[string]bool)
	for i, cc := range cs {
		if key, err := cc.check(seen); err != nil {
			return fmt.Errorf("classes[%d].%s: %w", i, key, err)
		}
		seen[cc.Name] = true
	}
	return nil
}

func (cc ClassConfig) check(seen map[string]bool) (string, error) {
	checks := []struct {
		key string
		err error
	}{
		{"name", checkClassName(cc.Name, seen)},
		{"peers", checkAddrs(cc.Peers, checkPeerID, true)},
		{"cidrs", checkAddrs(cc.CIDRs, checkCIDR, true)},
		{"peers", checkMembers(cc)},
		{"limit_duration", checkOpt(cc.LimitDuration, func(d time.Duration) error {
			return checkWholeSeconds(d, math.MaxUint32*time.Second)
		})},
		{"limit_data", checkOpt(cc.LimitData, checkAtLeastZero)},
		{"limit_rate", checkOpt(cc.LimitRate, checkAtLeastZero)},
		{"max_circuits_per_peer", checkOpt(cc.MaxCircuitsPerPeer, func(n int) error { return checkAtLeast(int64(n), 1) })},
		{"max_reservations_per_ip", checkOpt(cc.MaxReservationsPerIP, func(n int) error { return checkAtLeastZero(int64(n)) })},
		{"max_reservations_per_subnet", checkOpt(cc.MaxReservationsPerSubnet, func(n int) error { return checkAtLeastZero(int64(n)) })},
		{"reserve_rate_per_ip", checkOpt(cc.ReserveRatePerIP, checkRate)},
		{"reserve_rate_per_peer", checkOpt(cc.ReserveRatePerPeer, checkRate)},
		{"connect_rate_per_ip", checkOpt(cc.ConnectRatePerIP, checkRate)},
		{"connect_rate_per_peer", checkOpt(cc.ConnectRatePerPeer, checkRate)},
	}
	for _, ch := range checks {
		if ch.err != nil {
			return ch.key, ch.err
		}
	}
	return "", nil
}

func checkClassName(name string, seen map[string]bool) error {
	switch {
	case name == "":
		return errors.New("required")
	case !classNameRE.MatchString(name):
		return fmt.Errorf("must be 1-32 of a-z, 0-9 and _, got %q", name)
	case slices.Contains(reservedClasses, name):
		return fmt.Errorf("%q is a built-in class", name)
	case seen[name]:
		return fmt.Errorf("%q is given twice", name)
	}
	return nil
}

// checkMembers rejects an empty class: it would match nobody, which is
// almost surely a mistake.
func checkMembers(cc ClassConfig) error {
	if len(cc.Peers)+len(cc.CIDRs) == 0 {
		return errors.New("a class needs at least one peer ID in peers or range in cidrs")
	}
	return nil
}

func checkOpt[T any](p *T, check func(T) error) error {
	if p == nil {
		return nil
	}
	return check(*p)
}

// limiterClass maps cc to the limiter's Class. The daemon's 0 means "none"
// where ClassLimits' 0 means "the default class's value", so a given 0
// becomes -1 and an absent override becomes 0.
func (cc ClassConfig) limiterClass() (limiter.Class, error) {
	cl := limiter.Class{Name: cc.Name, Limits: limiter.ClassLimits{
		MaxReservationsPerIP:     noneIfZero(cc.MaxReservationsPerIP),
		MaxReservationsPerSubnet: noneIfZero(cc.MaxReservationsPerSubnet),
		MaxCircuitsPerPeer:       deref(cc.MaxCircuitsPerPeer),
		LimitDuration:            deref(cc.LimitDuration),
		LimitData:                noneIfZero(cc.LimitData),
		LimitRate:                noneIfZero(cc.LimitRate),
		Unlimited:                cc.Unlimited,
		ReserveRatePerIP:         deref(cc.ReserveRatePerIP),
		ReserveRatePerPeer:       deref(cc.ReserveRatePerPeer),
		ConnectRatePerIP:         deref(cc.ConnectRatePerIP),
		ConnectRatePerPeer:       deref(cc.ConnectRatePerPeer),
	}}
	var err error
	if cl.Peers, err = parsePeers(cc.Peers); err != nil {
		return cl, fmt.Errorf("class %s: peers: %w", cc.Name, err)
	}
	if cl.CIDRs, err = parseCIDRs(cc.CIDRs); err != nil {
		return cl, fmt.Errorf("class %s: cidrs: %w", cc.Name, err)
	}
	return cl, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func noneIfZero[T int | int64](p *T) T {
	switch {
	case p == nil:
		return 0
	case *p == 0:
		return -1
	}
	return *p
}
