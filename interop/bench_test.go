package interop

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
)

// Comparison sizes; RELAYD_COMPARE_N overrides the reservation count.
const (
	compareReservations = 300
	// compareReservationsMax bounds RELAYD_COMPARE_N; setup-latency clients
	// take the loopback subnets after it.
	compareReservationsMax = 60000
	compareParallel        = 8 // concurrent Reserve calls
	compareIdleWait        = 3 * time.Second
	compareBytes           = 64 << 20 // per throughput run
	compareRuns            = 5        // throughput runs per path; the best counts
	compareDials           = 50
	clockTicksPerSecond    = 100 // USER_HZ on Linux/amd64 (getconf CLK_TCK)
)

// compareResult holds one relay's numbers; a zero field means "not
// measured" (an earlier phase failed).
type compareResult struct {
	rssIdleKiB         float64
	rssPerRsvpKiB      float64
	cpuPerRsvpMs       float64
	rsvpPerSec         float64
	relayedMiBps       float64
	directMiBps        float64
	cpuPerMiBMs        float64
	setupP50, setupP90 time.Duration
}

// TestCompare runs relayd and the reference relay one after the other on
// loopback, driven by the same go-libp2p clients, and prints a table of
// both and their ratio. It takes a few minutes, so it only runs with
// RELAYD_COMPARE=1:
//
//	RELAYD_COMPARE=1 go test -run Compare -v -timeout 20m
//
// Each reserving client dials from its own loopback /24, so per-IP and
// per-subnet quotas do not apply; RELAYD_COMPARE_FLAGS adds flags to relayd
// only (e.g. to lift a global rate limit);
// RELAYD_COMPARE_OUT names a file that receives the table too.
func TestCompare(t *testing.T) {
	if os.Getenv("RELAYD_COMPARE") != "1" {
		t.Skip("side-by-side comparison is long; run with RELAYD_COMPARE=1 go test -run Compare -v")
	}
	n := compareReservations
	if v := os.Getenv("RELAYD_COMPARE_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 || n > compareReservationsMax {
			t.Fatalf("RELAYD_COMPARE_N=%q: want 1..%d", v, compareReservationsMax)
		}
	}
	results := map[string]*compareResult{}
	order := slices.Clone(kinds())
	slices.Reverse(order) // reference first: a relayd failure still leaves its numbers
	for _, kind := range order {
		res := &compareResult{}
		results[kind] = res
		t.Run(kind, func(t *testing.T) { measureRelay(t, kind, n, res) })
	}
	table := compareTable(results, n)
	t.Log("\n" + table)
	if out := os.Getenv("RELAYD_COMPARE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Errorf("RELAYD_COMPARE_OUT: %v", err)
		}
	}
}

func measureRelay(t *testing.T, kind string, n int, res *compareResult) {
	// Info, not the harness's debug level: a production relay does not log
	// every stream, and per-event JSON lines would dominate relayd's CPU.
	flags := []string{"--unlimited", "--max-reservations", strconv.Itoa(n + 100), "--log-level", "info"}
	if extra := os.Getenv("RELAYD_COMPARE_FLAGS"); kind == kindRelayd && extra != "" {
		flags = append(flags, strings.Fields(extra)...)
	}
	r := startRelay(t, kind, flags...)
	measureReservations(t, r, n, res)
	measureThroughput(t, r, res)
	measureSetup(t, r, res)
}

// measureReservations: RSS and CPU of the relay before and after n idle
// hosts each hold a reservation.
func measureReservations(t *testing.T, r *relayProc, n int, res *compareResult) {
	time.Sleep(time.Second) // let start-up settle before the baseline
	rss0 := readRSSKiB(t, r.Pid)
	res.rssIdleKiB = rss0
	hosts := make([]host.Host, n)
	for i := range hosts {
		hosts[i] = newHost(t, libp2p.ListenAddrStrings(clientListenAddr(i)),
			libp2p.DisableRelay(), libp2p.ResourceManager(&network.NullResourceManager{}))
	}
	cpu0 := readCPUTicks(t, r.Pid)
	start := time.Now()
	reserveAll(t, hosts, r)
	elapsed := time.Since(start)
	cpu1 := readCPUTicks(t, r.Pid)
	time.Sleep(compareIdleWait)
	rss1 := readRSSKiB(t, r.Pid)
	if r.Exited() {
		t.Fatalf("%s exited while holding %d reservations", r.Kind, n)
	}
	res.rssPerRsvpKiB = (rss1 - rss0) / float64(n)
	res.cpuPerRsvpMs = ticksToMs(cpu1-cpu0) / float64(n)
	res.rsvpPerSec = float64(n) / elapsed.Seconds()
	t.Logf("%s: RSS %.0f → %.0f KiB over %d reservations in %v, from %d distinct source IPs",
		r.Kind, rss0, rss1, n, elapsed, sourceIPs(hosts, r.Info.ID))
	for _, h := range hosts {
		h.Close() // spare the test process's 2 cores for the throughput runs
	}
	runtime.GC()
}

// clientListenAddr gives client i its own loopback /24 (127.A.B.1). go-libp2p
// dials from its listen address (SO_REUSEPORT), so each client reaches the
// relay from a distinct IP and subnet, as real clients do, and per-IP or
// per-subnet reservation quotas do not skew the numbers.
func clientListenAddr(i int) string {
	return fmt.Sprintf("/ip4/127.%d.%d.1/tcp/0", 1+i/256, i%256)
}

// sourceIPs counts the distinct local IPs of hosts' conns to the relay.
func sourceIPs(hosts []host.Host, relay peer.ID) int {
	seen := map[string]bool{}
	for _, h := range hosts {
		for _, c := range h.Network().ConnsToPeer(relay) {
			if ip, err := c.LocalMultiaddr().ValueForProtocol(ma.P_IP4); err == nil {
				seen[ip] = true
			}
		}
	}
	return len(seen)
}

func reserveAll(t *testing.T, hosts []host.Host, r *relayProc) {
	t.Helper()
	work := make(chan host.Host)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range compareParallel {
		wg.Go(func() {
			for h := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := client.Reserve(ctx, h, r.Info)
				cancel()
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	for _, h := range hosts {
		work <- h
	}
	close(work)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d reservations failed; first: %s (a global quota or rate limit? "+
			"RELAYD_COMPARE_FLAGS passes flags to relayd)", len(failures), len(hosts), failures[0])
	}
}

// measureThroughput copies compareBytes through one unlimited circuit and
// between the same kind of hosts connected directly.
func measureThroughput(t *testing.T, r *relayProc, res *compareResult) {
	a := newTarget(t, r)
	b := newHost(t)
	dialCircuit(t, b, r, a.ID())
	sinkTransfer(t, b, a.ID(), 1<<20) // warm-up
	cpu0 := readCPUTicks(t, r.Pid)
	d := bestOf(t, b, a.ID())
	cpu1 := readCPUTicks(t, r.Pid)
	mib := float64(compareBytes) / (1 << 20)
	res.relayedMiBps = mib / d.Seconds()
	res.cpuPerMiBMs = ticksToMs(cpu1-cpu0) / (compareRuns * mib)

	da := newListeningHost(t)
	da.SetStreamHandler(sinkProto, handleSink)
	db := newHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.Connect(ctx, peer.AddrInfo{ID: da.ID(), Addrs: da.Addrs()}); err != nil {
		t.Fatalf("direct connect: %v", err)
	}
	sinkTransfer(t, db, da.ID(), 1<<20)
	res.directMiBps = mib / bestOf(t, db, da.ID()).Seconds()
}

// bestOf returns the fastest of compareRuns transfers: the client hosts
// share 2 cores with the relay, so the minimum is the least disturbed run.
func bestOf(t *testing.T, h host.Host, p peer.ID) time.Duration {
	t.Helper()
	best := time.Duration(1<<63 - 1)
	for range compareRuns {
		best = min(best, sinkTransfer(t, h, p, compareBytes))
	}
	return best
}

// sinkTransfer sends size bytes on a sink stream and returns the time until
// the sink confirmed the count.
func sinkTransfer(t *testing.T, h host.Host, p peer.ID, size int) time.Duration {
	t.Helper()
	ctx := limitedCtx(t, 2*time.Minute)
	block := randomBytes(t, 1<<20)
	start := time.Now()
	s, err := h.NewStream(ctx, p, sinkProto)
	if err != nil {
		t.Fatalf("sink stream: %v", err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(2 * time.Minute))
	for sent := 0; sent < size; sent += len(block) {
		if _, err := s.Write(block[:min(len(block), size-sent)]); err != nil {
			t.Fatalf("sink write after %d bytes: %v", sent, err)
		}
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatalf("sink close write: %v", err)
	}
	var got uint64
	if err := binary.Read(s, binary.BigEndian, &got); err != nil || got != uint64(size) {
		t.Fatalf("sink confirmed %d of %d bytes (%v)", got, size, err)
	}
	return time.Since(start)
}

// measureSetup times compareDials sequential circuit dials, each followed
// by a one-byte echo round trip. Every dial comes from a fresh client with
// its own loopback IP that is already connected to the relay (that hop is
// not timed), so per-peer and per-IP CONNECT rate limits do not apply.
func measureSetup(t *testing.T, r *relayProc, res *compareResult) {
	a := newTarget(t, r)
	samples := make([]time.Duration, 0, compareDials)
	for i := range compareDials {
		b := newHost(t, libp2p.ListenAddrStrings(clientListenAddr(compareReservationsMax+i)))
		d, err := timedCircuitRoundTrip(t, b, r, a)
		b.Close()
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		samples = append(samples, d)
	}
	slices.Sort(samples)
	res.setupP50 = samples[len(samples)/2]
	res.setupP90 = samples[len(samples)*9/10]
}

func timedCircuitRoundTrip(t *testing.T, b host.Host, r *relayProc, a host.Host) (time.Duration, error) {
	ctx := limitedCtx(t, 20*time.Second)
	if err := b.Connect(ctx, r.Info); err != nil {
		return 0, fmt.Errorf("connect relay: %w", err)
	}
	start := time.Now()
	info := peer.AddrInfo{ID: a.ID(), Addrs: []ma.Multiaddr{r.CircuitAddr(a.ID())}}
	if err := b.Connect(ctx, info); err != nil {
		return 0, err
	}
	s, err := b.NewStream(ctx, a.ID(), echoProto)
	if err != nil {
		return 0, err
	}
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	buf := []byte{1}
	if _, err := s.Write(buf); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(s, buf); err != nil {
		return 0, err
	}
	d := time.Since(start)
	_ = s.Reset()
	_ = b.Network().ClosePeer(a.ID())
	// The relay must have freed the circuit before the next dial.
	if !waitFor(10*time.Second, func() bool { return len(connsTo(a, b.ID())) == 0 }) {
		return 0, fmt.Errorf("circuit not torn down at the target")
	}
	return d, nil
}

func compareTable(results map[string]*compareResult, n int) string {
	rows := []struct {
		name string
		get  func(*compareResult) float64
	}{
		{"RSS idle relay (KiB)", func(r *compareResult) float64 { return r.rssIdleKiB }},
		{fmt.Sprintf("RSS per idle reservation, N=%d (KiB)", n), func(r *compareResult) float64 { return r.rssPerRsvpKiB }},
		{"CPU per reservation (ms)", func(r *compareResult) float64 { return r.cpuPerRsvpMs }},
		{"reservations/s (8 parallel clients)", func(r *compareResult) float64 { return r.rsvpPerSec }},
		{"relayed throughput, 64 MiB (MiB/s)", func(r *compareResult) float64 { return r.relayedMiBps }},
		{"direct throughput, same hosts (MiB/s)", func(r *compareResult) float64 { return r.directMiBps }},
		{"relayed/direct", func(r *compareResult) float64 { return ratio(r.relayedMiBps, r.directMiBps) }},
		{"relay CPU per MiB relayed (ms)", func(r *compareResult) float64 { return r.cpuPerMiBMs }},
		{"circuit setup + first RTT p50 (ms)", func(r *compareResult) float64 { return ms(r.setupP50) }},
		{"circuit setup + first RTT p90 (ms)", func(r *compareResult) float64 { return ms(r.setupP90) }},
	}
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\trelayd\treference\trelayd/reference")
	rd, ref := results[kindRelayd], results[kindReference]
	for _, row := range rows {
		a, b := value(rd, row.get), value(ref, row.get)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.name, num(a), num(b), num(ratio(a, b)))
	}
	tw.Flush()
	return sb.String()
}

func value(r *compareResult, get func(*compareResult) float64) float64 {
	if r == nil {
		return 0
	}
	return get(r)
}

func ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}

func num(v float64) string {
	if v == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ticksToMs(ticks int64) float64 { return float64(ticks) * 1000 / clockTicksPerSecond }

// readRSSKiB reads VmRSS from /proc/<pid>/status.
func readRSSKiB(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// readCPUTicks returns utime+stime (fields 14 and 15) of /proc/<pid>/stat.
func readCPUTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read stat: %v", err)
	}
	// The command name may hold spaces; fields are counted after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		t.Fatalf("short /proc/%d/stat: %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("parse /proc/%d/stat: %q", pid, s)
	}
	return utime + stime
}
