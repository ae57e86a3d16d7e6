package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
)

const (
	peerA = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	peerB = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
)

func ptr[T any](v T) *T { return &v }

// altClasses sets every class key in its first class, each to a value
// other than the zero one, and only the required keys in the second.
func altClasses() []ClassConfig {
	return []ClassConfig{{
		Name:                     "partners",
		Peers:                    []string{peerA, peerB},
		CIDRs:                    []string{"10.2.0.0/16"},
		LimitDuration:            ptr(10 * time.Minute),
		LimitData:                ptr[int64](0),
		LimitRate:                ptr[int64](1 << 16),
		Unlimited:                true,
		MaxCircuitsPerPeer:       ptr(2),
		MaxReservationsPerIP:     ptr(0),
		MaxReservationsPerSubnet: ptr(4),
		ReserveRatePerIP:         ptr(limiter.NoRate),
		ReserveRatePerPeer:       ptr(limiter.Rate{PerSecond: 1, Burst: 2}),
		ConnectRatePerIP:         ptr(limiter.Rate{PerSecond: 0.5, Burst: 1}),
		ConnectRatePerPeer:       ptr(limiter.Rate{PerSecond: 100, Burst: 100}),
	}, {
		Name:  "lab",
		CIDRs: []string{"192.0.2.128/25"},
	}}
}

// TestEveryClassFieldIsBound is TestEveryFieldIsBound for ClassConfig:
// each field has a snake_case yaml key, a binding that writes it, a row
// in the class-keys table, and is set by altClasses()[0] so the flag,
// environment and --print-config round trips cover it.
func TestEveryClassFieldIsBound(t *testing.T) {
	docs, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	_, classDocs, _ := bytes.Cut(docs, []byte("## Class keys"))
	alt := reflect.ValueOf(altClasses()[0])
	typ := reflect.TypeFor[ClassConfig]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			key := f.Tag.Get("yaml")
			var cc ClassConfig
			want := reflect.ValueOf(&cc).Elem().Field(i).Addr().Pointer()
			v, ok := classBindingMap(&cc)[key]
			switch {
			case !ok:
				t.Fatalf("no class binding for yaml key %q", key)
			case reflect.ValueOf(v.field()).Pointer() != want:
				t.Errorf("class binding %q writes another field", key)
			}
			if alt.Field(i).IsZero() {
				t.Errorf("altClasses()[0].%s is zero; give it a value", f.Name)
			}
			if !bytes.Contains(classDocs, []byte("| `"+key+"` |")) {
				t.Errorf("%s has no class-keys row for %q; run go test ./cmd/relayd -run TestConfigDocs -update", docsPath, key)
			}
		})
	}
}

func TestClassFlagAndEnv(t *testing.T) {
	spec := "name=partners;peers=" + peerA + "," + peerB + ";cidrs=10.0.0.0/8;limit_duration=5s;limit_data=1048576"
	want := []ClassConfig{{
		Name: "partners", Peers: []string{peerA, peerB}, CIDRs: []string{"10.0.0.0/8"},
		LimitDuration: ptr(5 * time.Second), LimitData: ptr[int64](1 << 20),
	}}
	two := append(want, ClassConfig{Name: "lab", CIDRs: []string{"192.0.2.0/24"}, LimitRate: ptr[int64](0)})
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []ClassConfig
	}{
		{"one flag", []string{"--class", spec}, nil, want},
		{"repeated flag", []string{"--class", spec, "--class=name=lab;cidrs=192.0.2.0/24;limit_rate=0"}, nil, two},
		{"env, spaces between classes", nil, map[string]string{"RELAYD_CLASS": spec + " name=lab;cidrs=192.0.2.0/24;limit_rate=0"}, two},
		{"flag replaces env", []string{"--class", spec}, map[string]string{"RELAYD_CLASS": "name=lab;cidrs=192.0.2.0/24"}, want},
		{"trailing semicolon", []string{"--class", spec + ";"}, nil, want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := loadConfig(tt.args, mapEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Classes, tt.want) {
				t.Errorf("classes %+v, want %+v", c.Classes, tt.want)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestClassFlagReplacesFile(t *testing.T) {
	file := writeFile(t, t.TempDir(), "relayd.yaml", "classes:\n  - {name: lab, cidrs: [192.0.2.0/24]}\n  - {name: ops, peers: ["+peerA+"]}\n")
	c, _, err := loadConfig([]string{"--config", file, "--class", "name=x;peers=" + peerB}, mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := []ClassConfig{{Name: "x", Peers: []string{peerB}}}; !reflect.DeepEqual(c.Classes, want) {
		t.Errorf("classes %+v, want %+v", c.Classes, want)
	}
}

func TestClassFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--class", "name=a;limit_data=x"}, `flag --class: classes[0].limit_data: invalid integer "x"`},
		{[]string{"--class", "name=a;peers=a", "--class", "name=b;limit_duration=soon"}, `flag --class: classes[0].peers: invalid peer ID "a"`},
		{[]string{"--class", "name=a;cidrs=10.0.0.0/8", "--class", "name=b;limit_duration=soon"}, `flag --class: classes[1].limit_duration: invalid duration "soon"`},
		{[]string{"--class", "name=a;bogus=1"}, `flag --class: classes[0]: unknown key "bogus"`},
		{[]string{"--class", "name=a;unlimited"}, `flag --class: classes[0]: "unlimited": want key=value`},
		{[]string{"--class", "name=a;name=b"}, `flag --class: classes[0].name: key given twice`},
		{[]string{"--class", "name=a;connect_rate_per_ip=fast"}, `flag --class: classes[0].connect_rate_per_ip: invalid rate "fast"`},
		{[]string{"--class", "name=a;unlimited=yes"}, `flag --class: classes[0].unlimited: invalid boolean "yes"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c, opts := defaultConfig(), options{}
			checkErrPrefix(t, parseFlags(tt.args, &c, &opts), tt.want)
		})
	}
	t.Run("env", func(t *testing.T) {
		c := defaultConfig()
		err := applyEnv(&c, mapEnv(map[string]string{"RELAYD_CLASS": "name=a;cidrs=10.0.0.0/8 name=b;max_circuits_per_peer=x"}))
		checkErrPrefix(t, err, `env RELAYD_CLASS: classes[1].max_circuits_per_peer: invalid integer "x"`)
	})
}

func TestDecodeYAMLClasses(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []ClassConfig
	}{
		{"null is empty", "classes:\n", []ClassConfig{}},
		{"empty list", "classes: []\n", []ClassConfig{}},
		{"single peer scalar", "classes:\n  - name: a\n    peers: " + peerA + "\n", []ClassConfig{{Name: "a", Peers: []string{peerA}}}},
		{"overrides", "classes:\n  - name: a\n    cidrs: [10.0.0.0/8]\n    limit_duration: 5s\n    limit_data: 1048576\n    reserve_rate_per_peer: \"off\"\n",
			[]ClassConfig{{Name: "a", CIDRs: []string{"10.0.0.0/8"}, LimitDuration: ptr(5 * time.Second), LimitData: ptr[int64](1 << 20), ReserveRatePerPeer: ptr(limiter.NoRate)}}},
		{"alias", "classes:\n  - &c {name: a, cidrs: [10.0.0.0/8]}\n  - *c\n",
			[]ClassConfig{{Name: "a", CIDRs: []string{"10.0.0.0/8"}}, {Name: "a", CIDRs: []string{"10.0.0.0/8"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			if err := decodeYAML([]byte(tt.yaml), &c); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Classes, tt.want) {
				t.Errorf("classes %+v, want %+v", c.Classes, tt.want)
			}
		})
	}
}

func TestDecodeYAMLClassErrors(t *testing.T) {
	tests := []struct {
		yaml string
		want string
	}{
		{"classes: partners\n", "line 1: classes: want a list of classes"},
		{"classes: {name: a}\n", "line 1: classes: want a list of classes"},
		{"classes:\n  - partners\n", "line 2: classes[0]: want a mapping of keys to values"},
		{"classes:\n  - name: a\n    peer: [x]\n", `line 3: classes[0]: unknown key "peer"`},
		{"classes:\n  - name: a\n    name: b\n", "line 3: classes[0].name: key given twice"},
		{"classes:\n  - {name: a, cidrs: [10.0.0.0/8]}\n  - name: b\n    limit_data: lots\n", `line 4: classes[1].limit_data: invalid integer "lots"`},
		{"classes:\n  - name: a\n    cidrs: [10.0.0.0/33]\n", `line 3: classes[0].cidrs: invalid CIDR "10.0.0.0/33"`},
		{"classes:\n  - name: a\n    limit_duration: [5s]\n", "line 3: classes[0].limit_duration: want a single value"},
		{"classes:\n  - name: a\n    peers: {a: b}\n", "line 3: classes[0].peers: want a list"},
		{"classes: []\nclasses: []\n", "line 2: classes: key given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c := defaultConfig()
			checkErrPrefix(t, decodeYAML([]byte(tt.yaml), &c), tt.want)
		})
	}
}

func TestValidateClasses(t *testing.T) {
	ok := func() ClassConfig { return ClassConfig{Name: "partners", Peers: []string{peerA}} }
	tests := []struct {
		name   string
		modify func(*ClassConfig)
		want   string
	}{
		{"minimal", func(cc *ClassConfig) {}, ""},
		{"cidrs only", func(cc *ClassConfig) { cc.Peers, cc.CIDRs = nil, []string{"10.0.0.1"} }, ""},
		{"zeros mean none", func(cc *ClassConfig) {
			cc.LimitData, cc.LimitRate, cc.MaxReservationsPerIP, cc.MaxReservationsPerSubnet = ptr[int64](0), ptr[int64](0), ptr(0), ptr(0)
		}, ""},
		{"name empty", func(cc *ClassConfig) { cc.Name = "" }, "classes[1].name: required"},
		{"name upper case", func(cc *ClassConfig) { cc.Name = "Partners" }, `classes[1].name: must be 1-32 of a-z, 0-9 and _, got "Partners"`},
		{"name hyphen", func(cc *ClassConfig) { cc.Name = "eu-west" }, `classes[1].name: must be 1-32 of a-z, 0-9 and _, got "eu-west"`},
		{"name too long", func(cc *ClassConfig) { cc.Name = strings.Repeat("a", 33) }, `classes[1].name: must be 1-32 of a-z`},
		{"name default", func(cc *ClassConfig) { cc.Name = "default" }, `classes[1].name: "default" is a built-in class`},
		{"name allowed", func(cc *ClassConfig) { cc.Name = "allowed" }, `classes[1].name: "allowed" is a built-in class`},
		{"name denied", func(cc *ClassConfig) { cc.Name = "denied" }, `classes[1].name: "denied" is a built-in class`},
		{"name twice", func(cc *ClassConfig) { cc.Name = "first" }, `classes[1].name: "first" is given twice`},
		{"no members", func(cc *ClassConfig) { cc.Peers = nil }, "classes[1].peers: a class needs at least one peer ID in peers or range in cidrs"},
		{"bad peer", func(cc *ClassConfig) { cc.Peers = []string{"QmNope"} }, `classes[1].peers: invalid peer ID "QmNope"`},
		{"bad cidr", func(cc *ClassConfig) { cc.CIDRs = []string{"10.0.0.0/33"} }, `classes[1].cidrs: invalid CIDR "10.0.0.0/33"`},
		{"limit_duration zero", func(cc *ClassConfig) { cc.LimitDuration = ptr(time.Duration(0)) }, "classes[1].limit_duration: must be >= 1s, got 0s"},
		{"limit_duration fraction", func(cc *ClassConfig) { cc.LimitDuration = ptr(1500 * time.Millisecond) }, "classes[1].limit_duration: must be a whole number of seconds, got 1.5s"},
		{"limit_duration over uint32", func(cc *ClassConfig) { cc.LimitDuration = ptr((1 << 32) * time.Second) }, "classes[1].limit_duration: must be <= 1193046h28m15s"},
		{"limit_data negative", func(cc *ClassConfig) { cc.LimitData = ptr[int64](-5) }, "classes[1].limit_data: must be >= 0, got -5"},
		{"limit_rate negative", func(cc *ClassConfig) { cc.LimitRate = ptr[int64](-1) }, "classes[1].limit_rate: must be >= 0, got -1"},
		{"max_circuits_per_peer zero", func(cc *ClassConfig) { cc.MaxCircuitsPerPeer = ptr(0) }, "classes[1].max_circuits_per_peer: must be >= 1, got 0"},
		{"max_reservations_per_ip negative", func(cc *ClassConfig) { cc.MaxReservationsPerIP = ptr(-1) }, "classes[1].max_reservations_per_ip: must be >= 0, got -1"},
		{"max_reservations_per_subnet negative", func(cc *ClassConfig) { cc.MaxReservationsPerSubnet = ptr(-2) }, "classes[1].max_reservations_per_subnet: must be >= 0, got -2"},
		{"reserve_rate_per_ip no burst", func(cc *ClassConfig) { cc.ReserveRatePerIP = ptr(limiter.Rate{PerSecond: 1}) }, "classes[1].reserve_rate_per_ip: want a rate above 0"},
		{"reserve_rate_per_peer zero value", func(cc *ClassConfig) { cc.ReserveRatePerPeer = ptr(limiter.Rate{}) }, "classes[1].reserve_rate_per_peer: want a rate above 0"},
		{"connect_rate_per_ip no burst", func(cc *ClassConfig) { cc.ConnectRatePerIP = ptr(limiter.Rate{PerSecond: 2}) }, "classes[1].connect_rate_per_ip: want a rate above 0"},
		{"connect_rate_per_peer no burst", func(cc *ClassConfig) { cc.ConnectRatePerPeer = ptr(limiter.Rate{PerSecond: 3}) }, "classes[1].connect_rate_per_peer: want a rate above 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			cc := ok()
			tt.modify(&cc)
			c.Classes = []ClassConfig{{Name: "first", CIDRs: []string{"192.0.2.0/24"}}, cc}
			checkErrPrefix(t, c.Validate(), tt.want)
		})
	}
}

// TestValidateClassesExitsTwo: a bad class is a one-line config error
// naming the field, with exit code 2.
func TestValidateClassesExitsTwo(t *testing.T) {
	res := runRelayd(t, "--class", "name=partners;peers="+peerA+";limit_data=-5", "--print-config")
	if res.code != 2 {
		t.Fatalf("exit %d, want 2; stderr %q", res.code, res.stderr)
	}
	if want := "config: classes[0].limit_data: must be >= 0, got -5"; !strings.Contains(res.stderr, want) || strings.Count(strings.TrimSpace(res.stderr), "\n") > 0 {
		t.Errorf("stderr %q, want one line containing %q", res.stderr, want)
	}
}

// TestPolicyOfClasses: named classes map to limiter classes in order,
// before "allowed"; a given 0 becomes the limiter's "none" (-1) and an
// absent override its "default" (0).
func TestPolicyOfClasses(t *testing.T) {
	c := defaultConfig()
	c.AllowPeers = []string{peerB}
	c.Classes = []ClassConfig{
		{Name: "partners", Peers: []string{peerA}, LimitDuration: ptr(5 * time.Second), LimitData: ptr[int64](1 << 20)},
		{Name: "lab", CIDRs: []string{"10.0.0.1"}, LimitData: ptr[int64](0), MaxReservationsPerIP: ptr(0),
			ConnectRatePerPeer: ptr(limiter.NoRate), Unlimited: true},
	}
	pol, err := policyOf(c)
	if err != nil {
		t.Fatal(err)
	}
	got := pol.limits.Classes
	if names := pol.limits.ClassNames(); !reflect.DeepEqual(names, []string{"default", "denied", "partners", "lab", "allowed"}) {
		t.Fatalf("class order %v", names)
	}
	if l := got[0].Limits; l != (limiter.ClassLimits{LimitDuration: 5 * time.Second, LimitData: 1 << 20}) {
		t.Errorf("partners limits %+v", l)
	}
	wantLab := limiter.ClassLimits{LimitData: -1, MaxReservationsPerIP: -1, ConnectRatePerPeer: limiter.NoRate, Unlimited: true}
	if l := got[1].Limits; l != wantLab {
		t.Errorf("lab limits %+v, want %+v", l, wantLab)
	}
	if len(got[1].CIDRs) != 1 || got[1].CIDRs[0].String() != "10.0.0.1/32" {
		t.Errorf("lab CIDRs %v", got[1].CIDRs)
	}
	if err := pol.limits.Validate(); err != nil {
		t.Errorf("limiter rejects the mapped config: %v", err)
	}
}

func TestClassesFlagRoundTripsThroughString(t *testing.T) {
	cs := altClasses()
	v := &classesValue{p: &cs}
	var got []ClassConfig
	if err := (&classesValue{p: &got}).Set(v.String()); err != nil {
		t.Fatalf("Set(%q): %v", v.String(), err)
	}
	if !reflect.DeepEqual(got, altClasses()) {
		t.Errorf("got %+v\nwant %+v\nfrom %q", got, altClasses(), v.String())
	}
}

// TestReloadAppliesClasses: SIGHUP's reload applies a changed classes
// list to the running relay, without a restart warning, and a bad class
// leaves the running config in place.
func TestReloadAppliesClasses(t *testing.T) {
	leakcheck.Check(t)
	cur := defaultConfig()
	cur.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cur.Identity = filepath.Join(t.TempDir(), "key")
	key, _, err := identity.LoadOrCreateKeyFile(cur.Identity)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	rcfg, err := relayConfig(cur, key, identity.PeerIDOf(key), logger)
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.New(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	next := cur
	next.Classes = []ClassConfig{{Name: "partners", Peers: []string{peerA}, LimitDuration: ptr(5 * time.Second)}}
	if got := reload(r, cur, func() (Config, error) { return next, nil }, logger); !reflect.DeepEqual(got, next) {
		t.Fatalf("reload kept the old config:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "classes=\"[default denied partners]\"") || strings.Contains(logs.String(), "after a restart") {
		t.Errorf("classes not reloaded, or a restart asked for:\n%s", logs.String())
	}

	bad := next
	bad.Classes = []ClassConfig{{Name: "partners"}}
	load := func() (Config, error) {
		if err := bad.Validate(); err != nil {
			return Config{}, err
		}
		return bad, nil
	}
	if got := reload(r, next, load, logger); !reflect.DeepEqual(got, next) {
		t.Errorf("an invalid class replaced the running config")
	}
}
