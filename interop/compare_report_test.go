package interop

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// compareFigure is one row of TestCompare's tables.
type compareFigure struct {
	name string // as in the performance issue's table
	unit string // of the relays' own values
	goal string // the goal; "" for rows only in the detail tables
	// own: the table shows relayd's own value (a ratio already),
	// not relayd/reference.
	own bool
	get func(*compareResult) float64
}

// compareFigures: the six figures first, then the detail-only ones.
var compareFigures = []compareFigure{
	{name: "relay RSS per idle reservation", unit: "KiB", goal: "TCP ≤ 0.4×, QUIC ≤ 0.7×",
		get: func(r *compareResult) float64 { return r.rssPerRsvpKiB }},
	{name: "relay CPU per reservation (handshake included)", unit: "ms", goal: "≤ 0.5× on both",
		get: func(r *compareResult) float64 { return r.cpuPerRsvpMs }},
	{name: "relay CPU per MiB relayed", unit: "ms", goal: "≤ 0.4×",
		get: func(r *compareResult) float64 { return r.cpuPerMiBMs }},
	{name: "circuit setup p50 (CONNECT to first byte)", unit: "ms", goal: "≤ 0.8×",
		get: func(r *compareResult) float64 { return ms(r.setupP50) }},
	{name: "relayed MiB/s, one circuit", unit: "MiB/s", goal: "≥ 2×",
		get: func(r *compareResult) float64 { return r.relayedMiBps }},
	{name: "relayed / direct on one box", own: true,
		goal: "≥ 0.33 (the limit where one box seals and opens every byte three times)",
		get:  func(r *compareResult) float64 { return ratio(r.relayedMiBps, r.directMiBps) }},
	{name: "relay RSS before any reservation", unit: "KiB",
		get: func(r *compareResult) float64 { return r.rssIdleKiB }},
	{name: fmt.Sprintf("reservations/s, %d in flight", compareParallel), unit: "1/s",
		get: func(r *compareResult) float64 { return r.rsvpPerSec }},
	{name: "circuit setup p90", unit: "ms",
		get: func(r *compareResult) float64 { return ms(r.setupP90) }},
	{name: "direct MiB/s, same hosts", unit: "MiB/s",
		get: func(r *compareResult) float64 { return r.directMiBps }},
	{name: "clients' CPU per MiB relayed (both ends)", unit: "ms",
		get: func(r *compareResult) float64 { return r.clientsCPUPerMiBMs }},
	{name: "clients' CPU per MiB direct (both ends)", unit: "ms",
		get: func(r *compareResult) float64 { return r.clientsDirectCPUPerMiBMs }},
	// When one transfer keeps every core of the box busy (relay and both
	// clients share them), MiB/s is cores ÷ CPU per MiB. These rows test
	// that model against the measured MiB/s, and give what it says a relay
	// costing no CPU at all would reach.
	{name: "relayed MiB/s if CPU-bound: cores ÷ (relay + clients' CPU per MiB)", unit: "MiB/s",
		get: func(r *compareResult) float64 { return cpuBoundMiBps(r.cpuPerMiBMs + r.clientsCPUPerMiBMs) }},
	{name: "relayed MiB/s if CPU-bound, with a relay costing no CPU", unit: "MiB/s",
		get: func(r *compareResult) float64 { return cpuBoundMiBps(r.clientsCPUPerMiBMs) }},
	{name: "relayed / direct if CPU-bound, with a relay costing no CPU", unit: "",
		get: func(r *compareResult) float64 { return ratio(r.clientsDirectCPUPerMiBMs, r.clientsCPUPerMiBMs) }},
	// RELAYD_COMPARE_RESIDENCY=1 only: relayd on TCP, from its frame trace.
	{name: "relayd: time a relayed frame stays in it, p50", unit: "µs",
		get: func(r *compareResult) float64 { return us(r.residency.p50) }},
	{name: "relayd: time a relayed frame stays in it, p90", unit: "µs",
		get: func(r *compareResult) float64 { return us(r.residency.p90) }},
	{name: "relayd: time per dial with a relayed frame inside it, p50", unit: "µs",
		get: func(r *compareResult) float64 { return us(r.residency.insideP50) }},
	{name: "direct setup p50, same hosts, no relay", unit: "ms",
		get: func(r *compareResult) float64 { return ms(r.directSetupP50) }},
	{name: "relay's share of setup p50 (circuit − direct)", unit: "ms",
		get: func(r *compareResult) float64 { return diffMs(r.setupP50, r.directSetupP50) }},
	{name: "direct setup p50 through a plain TCP forwarder", unit: "ms",
		get: func(r *compareResult) float64 { return ms(r.forwardedSetupP50) }},
	{name: "a plain forwarder's share of setup p50 (forwarded − direct)", unit: "ms",
		get: func(r *compareResult) float64 { return diffMs(r.forwardedSetupP50, r.directSetupP50) }},
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// cpuBoundMiBps is the rate at which the box's cores, all busy, process
// MiB costing msPerMiB of CPU each; 0 (unmeasured) if msPerMiB is.
func cpuBoundMiBps(msPerMiB float64) float64 {
	if msPerMiB <= 0 {
		return 0
	}
	return float64(runtime.NumCPU()) * 1000 / msPerMiB
}

// diffMs is a − b in milliseconds, or 0 (unmeasured) if either is.
func diffMs(a, b time.Duration) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return ms(a - b)
}

type compareKey struct {
	run      int
	tr, kind string
}

// compareReport collects every run's results and prints them.
type compareReport struct {
	cfg      compareConfig
	date     time.Time
	results  map[compareKey]*compareResult
	runsDone int
	elapsed  time.Duration
	note     string // why fewer runs than asked for
}

func newCompareReport(cfg compareConfig) *compareReport {
	return &compareReport{cfg: cfg, date: time.Now().UTC(), results: map[compareKey]*compareResult{}}
}

func (rep *compareReport) result(run int, tr, kind string) *compareResult {
	res := &compareResult{}
	rep.results[compareKey{run, tr, kind}] = res
	return res
}

// values is get over the finished runs, leaving out unmeasured (zero) ones.
func (rep *compareReport) values(tr, kind string, get func(*compareResult) float64) []float64 {
	var vs []float64
	for run := range rep.runsDone {
		if res := rep.results[compareKey{run, tr, kind}]; res != nil {
			if v := get(res); v != 0 {
				vs = append(vs, v)
			}
		}
	}
	return vs
}

// ratios is relayd/reference of get, run by run.
func (rep *compareReport) ratios(tr string, get func(*compareResult) float64) []float64 {
	var vs []float64
	for run := range rep.runsDone {
		a, b := rep.results[compareKey{run, tr, kindRelayd}], rep.results[compareKey{run, tr, kindReference}]
		if a != nil && b != nil {
			if v := ratio(get(a), get(b)); v != 0 {
				vs = append(vs, v)
			}
		}
	}
	return vs
}

func (rep *compareReport) header() string {
	relayd := "relayd built from ../ at " + gitDescribe()
	if p := os.Getenv("RELAYD_BIN"); p != "" {
		relayd = "relayd " + p
	}
	runs := strconv.Itoa(rep.cfg.runs)
	if rep.note != "" { // stopped early
		runs = fmt.Sprintf("%d of %d", rep.runsDone, rep.cfg.runs)
	}
	return fmt.Sprintf("TestCompare: N=%d reservations, concurrency %d, runs %s, transports %s, RSS read after %v idle; "+
		"go-libp2p %s (clients and reference relay); %s; GOMAXPROCS %d, nproc %d; %s",
		rep.cfg.n, compareParallel, runs, strings.Join(rep.cfg.transports, ","), rep.cfg.idle, goLibp2pVersion(), relayd,
		runtime.GOMAXPROCS(0), runtime.NumCPU(), rep.date.Format("2006-01-02 15:04 MST"))
}

// String is the header, the table (ratios), the detail table of
// each transport and the phase times, all GitHub markdown.
func (rep *compareReport) String() string {
	var b strings.Builder
	b.WriteString(rep.header() + "\n\n")
	if rep.note != "" {
		b.WriteString(rep.note + "\n\n")
	}
	fmt.Fprintf(&b, "Ratios are relayd / go-libp2p's relay, computed per run, shown as min–max over runs. "+
		"Throughput: best of %d × %d MiB through one circuit; setup: %d sequential dials from clients "+
		"already connected to the relay, each timed from the dial to the first echoed byte. "+
		"\"relayed / direct\" is each relay's own relayed MiB/s over the MiB/s of the same hosts connected "+
		"directly; the summary shows relayd's.\n\n",
		compareTransfers, compareBytes>>20, compareDials)
	rep.writeSummary(&b)
	for _, tr := range rep.cfg.transports {
		b.WriteString("\n")
		rep.writeDetail(&b, tr)
	}
	b.WriteString("\n")
	rep.writePhases(&b)
	return b.String()
}

func (rep *compareReport) writeSummary(b *strings.Builder) {
	b.WriteString("| figure |")
	for _, tr := range rep.cfg.transports {
		fmt.Fprintf(b, " %s |", strings.ToUpper(tr))
	}
	b.WriteString(" goal |\n|---|")
	b.WriteString(strings.Repeat("---|", len(rep.cfg.transports)+1) + "\n")
	for _, f := range compareFigures {
		if f.goal == "" {
			continue
		}
		fmt.Fprintf(b, "| %s |", f.name)
		for _, tr := range rep.cfg.transports {
			if f.own {
				fmt.Fprintf(b, " %s |", formatRange(rep.values(tr, kindRelayd, f.get), ""))
			} else {
				fmt.Fprintf(b, " %s |", formatRange(rep.ratios(tr, f.get), "×"))
			}
		}
		fmt.Fprintf(b, " %s |\n", f.goal)
	}
}

func (rep *compareReport) writeDetail(b *strings.Builder, tr string) {
	fmt.Fprintf(b, "| %s, N=%d | relayd | go-libp2p relay | relayd / go-libp2p |\n|---|---|---|---|\n",
		strings.ToUpper(tr), rep.cfg.n)
	for _, f := range compareFigures {
		name := f.name
		if f.unit != "" {
			name += ", " + f.unit
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", name,
			formatRange(rep.values(tr, kindRelayd, f.get), ""),
			formatRange(rep.values(tr, kindReference, f.get), ""),
			formatRange(rep.ratios(tr, f.get), "×"))
	}
}

// writePhases: seconds per phase, min–max over runs, for budgeting a run.
func (rep *compareReport) writePhases(b *strings.Builder) {
	var names []string
	type col struct{ tr, kind string }
	var cols []col
	for _, tr := range rep.cfg.transports {
		for _, kind := range []string{kindRelayd, kindReference} {
			cols = append(cols, col{tr, kind})
			for run := range rep.runsDone {
				if res := rep.results[compareKey{run, tr, kind}]; res != nil {
					for _, p := range res.phases {
						if !slices.Contains(names, p.name) {
							names = append(names, p.name)
						}
					}
				}
			}
		}
	}
	b.WriteString("| phase, seconds |")
	for _, c := range cols {
		fmt.Fprintf(b, " %s %s |", c.tr, c.kind)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	phase := func(name string) func(*compareResult) float64 {
		return func(r *compareResult) float64 {
			total := 0.0
			for _, p := range r.phases {
				if name == "" || p.name == name {
					total += p.d.Seconds()
				}
			}
			return total
		}
	}
	for _, name := range append(names, "") {
		label := name
		if name == "" {
			label = "total"
		}
		fmt.Fprintf(b, "| %s |", label)
		for _, c := range cols {
			fmt.Fprintf(b, " %s |", formatRange(rep.values(c.tr, c.kind, phase(name)), ""))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "\n%d runs took %v (relay builds not included).\n", rep.runsDone, rep.elapsed.Round(time.Second))
}

// write puts the report in RELAYD_COMPARE_OUT, if set.
func (rep *compareReport) write(t *testing.T) {
	if rep.cfg.out == "" {
		return
	}
	if err := os.WriteFile(rep.cfg.out, []byte(rep.String()), 0o644); err != nil {
		t.Errorf("RELAYD_COMPARE_OUT: %v", err)
	}
}

// summary is one result's figures on one log line.
func (r *compareResult) summary() string {
	var parts []string
	for _, f := range compareFigures {
		parts = append(parts, fmt.Sprintf("%s %s", f.name, formatRange([]float64{f.get(r)}, f.unit)))
	}
	var phases []string
	for _, p := range r.phases {
		phases = append(phases, fmt.Sprintf("%s %.1fs", p.name, p.d.Seconds()))
	}
	return strings.Join(parts, "; ") + " | phases: " + strings.Join(phases, ", ")
}

// formatRange prints min–max of vs (one number when they print alike),
// both with the precision the larger one needs, then suffix; "n/a" when vs
// holds no measured value.
func formatRange(vs []float64, suffix string) string {
	vs = slices.DeleteFunc(slices.Clone(vs), func(v float64) bool { return v == 0 })
	if len(vs) == 0 {
		return "n/a"
	}
	lo, hi := slices.Min(vs), slices.Max(vs)
	prec := 2
	switch {
	case hi >= 100:
		prec = 0
	case hi >= 10:
		prec = 1
	}
	a, b := strconv.FormatFloat(lo, 'f', prec, 64), strconv.FormatFloat(hi, 'f', prec, 64)
	if suffix != "" && suffix != "×" {
		suffix = " " + suffix
	}
	if a == b {
		return a + suffix
	}
	return a + "–" + b + suffix
}

func ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}

// goLibp2pVersion is the go-libp2p this test links: from the build info
// when the toolchain records it (test binaries do not), else from go.mod.
func goLibp2pVersion() string {
	const mod = "github.com/libp2p/go-libp2p"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == mod {
				return d.Version
			}
		}
	}
	f, err := os.Open("go.mod")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == mod {
			return fs[1]
		}
	}
	return "unknown"
}

// gitDescribe names the relayd commit under test, "unknown" outside git.
func gitDescribe() string {
	out, err := exec.Command("git", "-C", "..", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// TestCompareReport checks the table TestCompare prints, on made-up
// results: ranges over runs, per-run ratios, relayd's own relayed/direct,
// and n/a where a run failed.
func TestCompareReport(t *testing.T) {
	rep := newCompareReport(compareConfig{n: 1000, runs: 3, transports: []string{"tcp", "quic"}})
	for run, v := range []struct{ relayd, ref float64 }{{10, 20}, {11, 20}, {12, 22}} {
		rd := rep.result(run, "tcp", kindRelayd)
		rd.rssPerRsvpKiB, rd.relayedMiBps, rd.directMiBps = v.relayd, 100, 400
		rd.phases = []phaseTime{{"reserve", 2 * time.Second}, {"setup dials", time.Second}}
		ref := rep.result(run, "tcp", kindReference)
		ref.rssPerRsvpKiB, ref.relayedMiBps, ref.directMiBps = v.ref, 50, 500
	}
	rep.result(0, "quic", kindRelayd).rssPerRsvpKiB = 30 // its reference never ran
	rep.runsDone = 3
	out := rep.String()
	for _, want := range []string{
		"| figure | TCP | QUIC | goal |",
		"| relay RSS per idle reservation | 0.50–0.55× | n/a | TCP ≤ 0.4×, QUIC ≤ 0.7× |",
		"| relayed MiB/s, one circuit | 2.00× | n/a | ≥ 2× |",
		"| relayed / direct on one box | 0.25 | n/a |",
		"| relay RSS per idle reservation, KiB | 10.0–12.0 | 20.0–22.0 | 0.50–0.55× |",
		"| relay RSS per idle reservation, KiB | 30.0 | n/a | n/a |",
		"| reserve | 2.00 |",
		"| total | 3.00 |",
		"N=1000 reservations, concurrency 16, runs 3,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
