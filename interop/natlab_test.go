package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The NAT lab: network namespaces joined by veth pairs, built and removed
// by the test. No namespace has a link to the host's, so no packet can
// leave the lab.
//
//	relay (11.22.33.1) ─┐
//	natA  (11.22.33.2) ─┼─ pub (bridge br0)
//	natB  (11.22.33.3) ─┘
//	natA (10.0.1.1) ── hostA (10.0.1.2, default via natA)
//	natB (10.0.2.1) ── hostB (10.0.2.2, default via natB)
//
// Each NAT masquerades its LAN behind its public address and drops inbound
// traffic that conntrack does not know (only ESTABLISHED,RELATED gets in),
// so the hosts meet only through the relay or through a hole punch.
// MASQUERADE keeps the source port when it is free, which gives the
// endpoint-independent mapping of a "cone" NAT (filtering stays
// address-and-port dependent); with --random-fully every new destination
// gets a random port: a symmetric NAT.
//
// The "public" range is global unicast on purpose: go-libp2p punches only
// to addresses manet.IsPublicAddr accepts, and that refuses every
// documentation and benchmark range (198.18.0.0/15 included). The range
// exists only inside the lab's namespaces.
const (
	labPrefix  = "rdlab-"
	labPubNet  = "11.22.33."
	labRelayIP = labPubNet + "1"
	labPort    = "4001"
	// labTrialPace spaces trial starts (relayd's default RESERVE rate per
	// IP is 1/s).
	labTrialPace = 1100 * time.Millisecond
	// labTrialTimeout bounds one peer process.
	labTrialTimeout = 40 * time.Second
)

type natLab struct {
	ns map[string]string // role (pub, relay, natA, natB, hostA, hostB) → namespace
}

// labTrials is the number of trials per cone scenario (RELAYD_NATLAB_TRIALS,
// default 20).
func labTrials() int {
	if n, err := strconv.Atoi(os.Getenv("RELAYD_NATLAB_TRIALS")); err == nil && n > 0 {
		return n
	}
	return 20
}

// skipWithoutNamespaces skips (outside CI) when the lab cannot be built.
func skipWithoutNamespaces(t *testing.T) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "not root"
	default:
		for _, tool := range []string{"ip", "iptables"} {
			if _, err := exec.LookPath(tool); err != nil {
				why = tool + " not installed"
			}
		}
	}
	if why == "" {
		name := fmt.Sprintf("%sprobe-%d", labPrefix, os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			why = fmt.Sprintf("cannot create a network namespace: %v: %s", err, out)
		} else {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("NAT lab needs root, iproute2, iptables and network namespaces: %s", why)
	}
	t.Skipf("NAT lab skipped: %s (it runs as root with iproute2 and iptables; CI never skips it)", why)
}

// removeStaleLabs deletes namespaces left by a lab whose process is gone.
func removeStaleLabs(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, labPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && pid != os.Getpid() {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				continue // a lab that is still running
			}
		}
		t.Logf("removing stale lab namespace %s", name)
		exec.Command("ip", "netns", "del", name).Run()
	}
}

var labSeq struct {
	sync.Mutex
	n int
}

// newNATLab builds the lab; symmetric picks --random-fully NATs. Cleanup
// removes every namespace (and with them every veth and rule).
func newNATLab(t *testing.T, symmetric bool) *natLab {
	t.Helper()
	if !slices.Contains(kinds(), kindRelayd) {
		t.Skip("NAT lab judges relayd, which RELAYD_INTEROP_KINDS leaves out")
	}
	skipWithoutNamespaces(t)
	removeStaleLabs(t)
	labSeq.Lock()
	labSeq.n++
	seq := labSeq.n
	labSeq.Unlock()
	lab := &natLab{ns: map[string]string{}}
	for _, role := range []string{"pub", "relay", "natA", "natB", "hostA", "hostB"} {
		name := fmt.Sprintf("%s%d-%d-%s", labPrefix, os.Getpid(), seq, strings.ToLower(role))
		lab.ns[role] = name
		lab.must(t, "ip", "netns", "add", name)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		lab.in(t, role, "ip", "link", "set", "lo", "up")
	}
	lab.in(t, "pub", "ip", "link", "add", "br0", "type", "bridge")
	lab.in(t, "pub", "ip", "link", "set", "br0", "up")
	for i, role := range []string{"relay", "natA", "natB"} {
		port := "p-" + strings.ToLower(role)
		lab.in(t, role, "ip", "link", "add", "pub0", "type", "veth", "peer", "name", port, "netns", lab.ns["pub"])
		lab.in(t, "pub", "ip", "link", "set", port, "master", "br0", "up")
		lab.in(t, role, "ip", "addr", "add", fmt.Sprintf("%s%d/24", labPubNet, i+1), "dev", "pub0")
		lab.in(t, role, "ip", "link", "set", "pub0", "up")
	}
	for i, side := range []string{"A", "B"} {
		nat, h := "nat"+side, "host"+side
		lan := fmt.Sprintf("10.0.%d.", i+1)
		lab.in(t, nat, "ip", "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", lab.ns[h])
		lab.in(t, nat, "ip", "addr", "add", lan+"1/24", "dev", "lan0")
		lab.in(t, nat, "ip", "link", "set", "lan0", "up")
		lab.in(t, h, "ip", "addr", "add", lan+"2/24", "dev", "eth0")
		lab.in(t, h, "ip", "link", "set", "eth0", "up")
		lab.in(t, h, "ip", "route", "add", "default", "via", lan+"1")
		lab.in(t, nat, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		masq := []string{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "pub0", "-j", "MASQUERADE"}
		if symmetric {
			masq = append(masq, "--random-fully")
		}
		lab.in(t, nat, masq...)
		lab.in(t, nat, "iptables", "-P", "FORWARD", "DROP")
		lab.in(t, nat, "iptables", "-A", "FORWARD", "-i", "lan0", "-o", "pub0", "-j", "ACCEPT")
		lab.in(t, nat, "iptables", "-A", "FORWARD", "-i", "pub0", "-o", "lan0", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		lab.in(t, nat, "iptables", "-A", "INPUT", "-i", "pub0", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		lab.in(t, nat, "iptables", "-A", "INPUT", "-i", "pub0", "-j", "DROP")
	}
	return lab
}

func (lab *natLab) must(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// in runs a command inside role's namespace.
func (lab *natLab) in(t *testing.T, role string, args ...string) {
	t.Helper()
	lab.must(t, "ip", append([]string{"netns", "exec", lab.ns[role]}, args...)...)
}

// startRelay runs relayd in the relay namespace on TCP and QUIC, default
// limits, and returns its addresses with /p2p.
func (lab *natLab) startRelay(t *testing.T) (tcpAddr, quicAddr string) {
	t.Helper()
	bin := binaries[kindRelayd]
	if bin.err != nil || bin.path == "" {
		t.Fatalf("relayd binary unavailable: %v", bin.err)
	}
	keyFile, id := writeIdentity(t)
	args := []string{"netns", "exec", lab.ns["relay"], bin.path, "serve", "--identity", keyFile,
		"--admin-listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "info",
		"--listen", "/ip4/" + labRelayIP + "/tcp/" + labPort, "--listen", "/ip4/" + labRelayIP + "/udp/" + labPort + "/quic-v1"}
	r := &relayProc{Kind: kindRelayd, logs: newLogTail(logTailLines), exited: make(chan struct{})}
	r.cmd = exec.Command("ip", args...)
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start relayd in the lab: %v", err)
	}
	r.Pid = r.cmd.Process.Pid
	ready := make(chan readyLine, 1)
	logsDone := make(chan struct{})
	go func() { defer close(logsDone); scanLogs(stderr, r.logs, ready) }()
	go func() { <-logsDone; r.waitErr = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		r.Stop(t)
		if t.Failed() {
			t.Logf("last relayd log lines:\n%s", r.logs.String())
		}
	})
	r.awaitReady(t, ready, args)
	p2p := "/p2p/" + id.String()
	return "/ip4/" + labRelayIP + "/tcp/" + labPort + p2p, "/ip4/" + labRelayIP + "/udp/" + labPort + "/quic-v1" + p2p
}

// labReport is the part of `relayd probe --json` and hpeer reports the lab
// reads.
type labReport struct {
	Event     string `json:"event"`
	OK        bool   `json:"ok"`
	Error     string `json:"error"`
	Peer      string `json:"peer"`
	HolePunch *struct {
		Direct           bool     `json:"direct"`
		Transport        string   `json:"transport"`
		Attempts         int      `json:"attempts"`
		TimeToDirect     *float64 `json:"time_to_direct_seconds"`
		RelayedEchoAfter bool     `json:"relayed_echo_after"`
		Error            string   `json:"error"`
	} `json:"holepunch"`
}

// labPeer is one peer process in a host namespace.
type labPeer struct {
	cmd    *exec.Cmd
	lines  chan labReport
	stderr *logTail
	done   chan struct{}
}

func (lab *natLab) startPeer(t *testing.T, role string, argv []string) *labPeer {
	t.Helper()
	p := &labPeer{lines: make(chan labReport, 4), stderr: newLogTail(40), done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), labTrialTimeout+10*time.Second)
	p.cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", lab.ns[role]}, argv...)...)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(errOut)
		for sc.Scan() {
			p.stderr.add(sc.Text())
		}
	})
	wg.Go(func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var r labReport
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				p.lines <- r
			} else {
				p.stderr.add("stdout: " + sc.Text())
			}
		}
	})
	go func() { wg.Wait(); p.cmd.Wait(); cancel(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

// next is the peer's next JSON line; ok false once it exited.
func (p *labPeer) next(timeout time.Duration) (labReport, bool) {
	select {
	case r, ok := <-p.lines:
		return r, ok
	case <-time.After(timeout):
		return labReport{}, false
	}
}

// final is the peer's last report after it exits.
func (p *labPeer) final() labReport {
	var last labReport
	for r := range p.lines {
		last = r
	}
	<-p.done
	return last
}

// trial is one listener/dialer run.
type trial struct {
	direct    bool
	transport string
	attempts  int
	ttd       time.Duration
	relayed   bool // the circuit carried an echo after a failed punch
	err       string
}

// peerCmd builds one side's command line; target is empty for listeners.
type peerCmd func(role, target string) []string

func (lab *natLab) runTrial(t *testing.T, listener, dialer peerCmd) trial {
	t.Helper()
	l := lab.startPeer(t, "hostA", listener("listener", ""))
	ready, ok := l.next(labTrialTimeout)
	if !ok || ready.Event != "ready" {
		l.final()
		return trial{err: fmt.Sprintf("listener not ready: %s; stderr:\n%s", ready.Error, l.stderr.String())}
	}
	d := lab.startPeer(t, "hostB", dialer("dialer", ready.Peer))
	lr, dr := l.final(), d.final()
	tr := trial{}
	if lr.HolePunch != nil {
		tr.direct, tr.transport, tr.attempts = lr.HolePunch.Direct, lr.HolePunch.Transport, lr.HolePunch.Attempts
		if lr.HolePunch.TimeToDirect != nil {
			tr.ttd = time.Duration(*lr.HolePunch.TimeToDirect * float64(time.Second))
		}
	}
	if dr.HolePunch != nil {
		tr.relayed = dr.HolePunch.RelayedEchoAfter
	}
	if !lr.OK || !dr.OK {
		tr.err = fmt.Sprintf("listener: %s; dialer: %s", lr.Error, dr.Error)
		if testing.Verbose() {
			t.Logf("listener stderr:\n%s\ndialer stderr:\n%s", l.stderr.String(), d.stderr.String())
		}
	}
	return tr
}

// summary reports success rate, first-attempt rate and median time to
// direct.
func summary(trials []trial) (success, first float64, median time.Duration, transports map[string]int) {
	var ttds []time.Duration
	transports = map[string]int{}
	for _, tr := range trials {
		if tr.direct && tr.err == "" {
			success++
			ttds = append(ttds, tr.ttd)
			transports[tr.transport]++
			if tr.attempts == 1 {
				first++
			}
		}
	}
	n := float64(len(trials))
	if len(ttds) > 0 {
		slices.Sort(ttds)
		median = ttds[len(ttds)/2]
	}
	return success / n, first / n, median, transports
}

var hpeerOnce struct {
	sync.Once
	b relayBinary
}

func hpeerBinary(t *testing.T) string {
	t.Helper()
	hpeerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "relayd-hpeer-")
		if err != nil {
			hpeerOnce.b.err = err
			return
		}
		hpeerOnce.b = buildBinary(".", "./cmd/hpeer", filepath.Join(dir, "hpeer"))
	})
	if hpeerOnce.b.err != nil {
		t.Fatalf("hpeer: %v", hpeerOnce.b.err)
	}
	return hpeerOnce.b.path
}

// TestNATLabCone: behind two cone NATs, every pairing reaches a direct
// connection through relayd: stock go-libp2p hosts over TCP and over QUIC,
// relayd's own probe on both sides, and mixed pairs.
func TestNATLabCone(t *testing.T) {
	lab := newNATLab(t, false)
	tcpRelay, quicRelay := lab.startRelay(t)
	hpeer, relayd := hpeerBinary(t), binaries[kindRelayd].path
	goPeer := func(transport, linger string) peerCmd {
		relay := tcpRelay
		if transport == "quic" {
			relay = quicRelay
		}
		return func(role, target string) []string {
			args := []string{hpeer, "--role", role, "--relay", relay, "--transport", transport, "--timeout", labTrialTimeout.String(), "--linger", linger}
			if target != "" {
				args = append(args, "--target", target)
			}
			return args
		}
	}
	probePeer := func(role, target string) []string {
		args := []string{relayd, "probe", "--holepunch", "--json", "--role", role, "--timeout", labTrialTimeout.String()}
		if target != "" {
			args = append(args, "--target", target)
		}
		return append(args, tcpRelay, quicRelay)
	}
	scenarios := []struct {
		name             string
		listener, dialer peerCmd
	}{
		// The dialer stays until the listener hangs up, so both see the
		// direct connection.
		{"go-libp2p/tcp", goPeer("tcp", "0s"), goPeer("tcp", "5s")},
		{"go-libp2p/quic", goPeer("quic", "0s"), goPeer("quic", "5s")},
		{"relayd-probe", probePeer, probePeer},
		// go-libp2p stays up until the probe peer has echoed and hung up.
		{"go-libp2p-listener/relayd-probe-dialer/tcp", goPeer("tcp", "5s"), probePeer},
		{"relayd-probe-listener/go-libp2p-dialer/quic", probePeer, goPeer("quic", "5s")},
	}
	n := labTrials()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var trials []trial
			// All listeners share NAT A's address, and relayd's default
			// RESERVE rate is 1/s per IP (burst 8): pace the trials to it.
			pace := time.NewTicker(labTrialPace)
			defer pace.Stop()
			for i := range n {
				if i > 0 {
					<-pace.C
				}
				tr := lab.runTrial(t, sc.listener, sc.dialer)
				if tr.err != "" {
					t.Logf("trial %d: %s", i+1, tr.err)
				}
				trials = append(trials, tr)
			}
			success, first, median, transports := summary(trials)
			t.Logf("%s: %d trials, success %.0f%%, first attempt %.0f%%, median time to direct %v, transports %v",
				sc.name, n, 100*success, 100*first, median.Round(time.Millisecond), transports)
			// The goal is 100 %; one miss in 20 is tolerated so that a
			// loaded CI machine does not fail the suite, and logged above.
			if success < 0.95 {
				t.Errorf("success rate %.0f%%, want 100%% (at least 95%%) behind cone NATs", 100*success)
			}
		})
	}
}

// TestNATLabDropsUnsolicited checks the lab itself: a TCP connection from
// host B to host A's NAT goes unanswered (dropped, not refused), and A's
// private address is unreachable; only the relay or a punch connects them.
func TestNATLabDropsUnsolicited(t *testing.T) {
	lab := newNATLab(t, false)
	for _, target := range []string{labPubNet + "2/" + labPort, "10.0.1.2/" + labPort} {
		cmd := exec.Command("ip", "netns", "exec", lab.ns["hostB"], "timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/"+target)
		err := cmd.Run()
		if err == nil {
			t.Errorf("host B connected to %s", target)
		}
		if ee, ok := err.(*exec.ExitError); ok && target == labPubNet+"2/"+labPort && ee.ExitCode() != 124 {
			t.Errorf("connection to A's NAT ended with exit %d, want a timeout (dropped, no RST)", ee.ExitCode())
		}
	}
}

// TestNATLabSymmetric: behind NATs that map every destination to a random
// port, the punch fails cleanly after its three attempts and the circuit
// keeps carrying data.
func TestNATLabSymmetric(t *testing.T) {
	lab := newNATLab(t, true)
	tcpRelay, quicRelay := lab.startRelay(t)
	relayd := binaries[kindRelayd].path
	probePeer := func(role, target string) []string {
		args := []string{relayd, "probe", "--holepunch", "--json", "--role", role, "--timeout", labTrialTimeout.String(), "--punch-timeout", "2s"}
		if target != "" {
			args = append(args, "--target", target)
		}
		return append(args, tcpRelay, quicRelay)
	}
	for i := range 3 {
		tr := lab.runTrial(t, probePeer, probePeer)
		if tr.direct || tr.attempts != 3 || !tr.relayed {
			t.Errorf("trial %d: %+v, want no direct connection after 3 attempts and a working circuit", i+1, tr)
		}
	}
}
