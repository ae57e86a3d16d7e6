package metrics_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/relayd/relayd/fleet"
	"github.com/relayd/relayd/metrics"
	"github.com/relayd/relayd/relay"
	"github.com/relayd/relayd/tlsacme"
)

const dashboardPath = "dashboards/relayd.json"

// dashboard is the part of Grafana's JSON model the test reads.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int      `json:"id"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Panels  []panel  `json:"panels"` // a collapsed row's panels
	Targets []target `json:"targets"`
}

type target struct {
	Expr string `json:"expr"`
}

// family is what the test knows of one registered metric family.
type family struct {
	name    string
	samples []string // names in the exposition: histograms add _bucket, _sum, _count
	labels  []string
}

// TestDashboard: every metric a dashboard query names is one relayd
// registers, with labels it has, and every relayd_ metric is on a panel.
func TestDashboard(t *testing.T) {
	for _, p := range problems(t, loadDashboard(t), registered(t)) {
		t.Error(p)
	}
}

// problems lists what is wrong with d against the registered families.
func problems(t *testing.T, d dashboard, fams []family) []string {
	bySample := make(map[string]family)
	for _, f := range fams {
		for _, s := range f.samples {
			bySample[s] = f
		}
	}
	var out []string
	used := make(map[string]bool) // family names
	for _, q := range d.queries(t) {
		for _, name := range metricNames(q.expr) {
			f, ok := bySample[name]
			if !ok {
				out = append(out, fmt.Sprintf("%s: query names %s, which relayd does not export:\n  %s", q.where, name, q.expr))
				continue
			}
			used[f.name] = true
		}
		out = append(out, labelProblems(q, bySample)...)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.name, "relayd_") && !used[f.name] {
			out = append(out, fmt.Sprintf("%s is registered but on no panel", f.name))
		}
	}
	return out
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

type query struct{ where, expr string }

// queries lists every PromQL expression of the dashboard, checking on the
// way that panels have unique ids and a query each.
func (d dashboard) queries(t *testing.T) []query {
	t.Helper()
	var out []query
	ids := make(map[int]bool)
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				out = append(out, query{"panel " + p.Title, tg.Expr})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			out = append(out, query{"variable " + v.Name, v.Definition})
		}
	}
	if len(out) == 0 {
		t.Fatal("dashboard has no queries")
	}
	return out
}

// registered gathers what relayd registers: the runtime collectors the
// daemon adds and a fleet node's collectors, built the way relay.New
// builds them. The fleet's Redis is a closed loopback port: a node
// registers its collectors whether Redis answers or not.
func registered(t *testing.T) []family {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	reg := &describing{Registry: prometheus.NewRegistry()}
	metrics.RegisterRuntime(reg, "test", "test")
	r, err := relay.New(relay.Config{
		Key:     key,
		Listen:  []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Metrics: reg,
		Fleet:   &fleet.Config{URL: "redis://" + closedPort(t), NodeID: "dashboard"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	acme, err := tlsacme.New(tlsacme.Config{Domains: []string{"relay.example.com"}, StorageDir: t.TempDir(), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer acme.Close()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []family
	seen := make(map[string]bool)
	for _, mf := range mfs {
		out = append(out, familyOf(mf))
		seen[mf.GetName()] = true
	}
	// A family with no sample yet (a certificate expiry before any
	// certificate) is known only from its description.
	for _, d := range reg.descs {
		if f, ok := familyOfDesc(d); ok && !seen[f.name] {
			out = append(out, f)
			seen[f.name] = true
		}
	}
	return out
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// describing is a registry that also keeps every collector's Descs.
type describing struct {
	*prometheus.Registry
	descs []*prometheus.Desc
}

func (d *describing) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		d.descs = append(d.descs, desc)
	}
	return d.Registry.Register(c)
}

func (d *describing) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := d.Register(c); err != nil {
			panic(err)
		}
	}
}

var descRE = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// familyOfDesc reads a gauge or counter family from Desc.String, the only
// public view of a Desc's name and labels.
func familyOfDesc(d *prometheus.Desc) (family, bool) {
	m := descRE.FindStringSubmatch(d.String())
	if m == nil {
		return family{}, false
	}
	f := family{name: m[1], samples: []string{m[1]}}
	for _, l := range strings.Split(m[2], ",") {
		if l = strings.TrimSpace(l); l != "" {
			f.labels = append(f.labels, l)
		}
	}
	return f, true
}

func familyOf(mf *dto.MetricFamily) family {
	f := family{name: mf.GetName(), samples: []string{mf.GetName()}}
	switch mf.GetType() {
	case dto.MetricType_HISTOGRAM:
		f.samples = []string{f.name + "_bucket", f.name + "_sum", f.name + "_count"}
	case dto.MetricType_SUMMARY:
		f.samples = append(f.samples, f.name+"_sum", f.name+"_count")
	}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if !slices.Contains(f.labels, l.GetName()) {
				f.labels = append(f.labels, l.GetName())
			}
		}
	}
	return f
}

var (
	stringLit   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	selector    = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}`)
	matcherName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	grouping    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	ourMetric   = regexp.MustCompile(`\b(?:relayd|go|process)_[a-zA-Z0-9_:]*`)
)

// metricNames are the relayd_, go_ and process_ metric names in a PromQL
// expression, with label matchers, grouping labels and strings ignored.
func metricNames(expr string) []string {
	expr = stringLit.ReplaceAllString(expr, `""`)
	expr = selector.ReplaceAllString(expr, "$1")
	expr = grouping.ReplaceAllString(expr, "")
	return ourMetric.FindAllString(expr, -1)
}

// labelProblems: a matcher must name a label of its metric, and a by()
// or without() label must belong to a metric of the same query. instance
// and job come from the scrape; le is every histogram's bucket label.
func labelProblems(q query, bySample map[string]family) []string {
	var out []string
	expr := stringLit.ReplaceAllString(q.expr, `""`)
	inQuery := []string{"instance", "job", "le"}
	for _, name := range metricNames(q.expr) {
		inQuery = append(inQuery, bySample[name].labels...)
	}
	for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
		f, ok := bySample[sel[1]]
		if !ok {
			continue // reported as an unknown metric already
		}
		allowed := append([]string{"instance", "job", "le"}, f.labels...)
		for _, m := range matcherName.FindAllStringSubmatch(sel[2], -1) {
			if !slices.Contains(allowed, m[1]) {
				out = append(out, fmt.Sprintf("%s: %s has no label %q:\n  %s", q.where, sel[1], m[1], q.expr))
			}
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(inQuery, l) {
				out = append(out, fmt.Sprintf("%s: groups by %q, a label none of its metrics has:\n  %s", q.where, l, q.expr))
			}
		}
	}
	return out
}

// TestDashboardCheckCatchesMistakes: the checks fail on an unknown name,
// a wrong matcher label, a wrong grouping label and a missing metric.
func TestDashboardCheckCatchesMistakes(t *testing.T) {
	got := metricNames(`sum by (go_version) (rate(relayd_x_total{reason="go_y", le="10"}[5m])) / go_goroutines`)
	if want := []string{"relayd_x_total", "go_goroutines"}; !slices.Equal(got, want) {
		t.Errorf("metricNames = %q, want %q", got, want)
	}
	var d dashboard
	d.Panels = []panel{{ID: 1, Title: "bad"}}
	for _, expr := range []string{
		`rate(relayd_circuits_closed_totl[5m])`,
		`rate(relayd_circuits_closed_total{result="ok"}[5m])`,
		`sum by (stage) (rate(relayd_circuits_closed_total[5m]))`,
	} {
		d.Panels[0].Targets = append(d.Panels[0].Targets, target{expr})
	}
	got = problems(t, d, registered(t))
	for _, want := range []string{
		"relayd_circuits_closed_totl, which relayd does not export",
		`relayd_circuits_closed_total has no label "result"`,
		`groups by "stage"`,
		"relayd_circuits_active is registered but on no panel",
	} {
		if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("no problem reported containing %q; got:\n%s", want, strings.Join(got, "\n"))
		}
	}
}
