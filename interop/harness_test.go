package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Relay kinds a scenario runs against.
const (
	kindRelayd    = "relayd"
	kindReference = "reference"
)

const (
	buildTimeout = 5 * time.Minute
	// startTimeout bounds the wait for "relayd started" (the contract: 20 s).
	startTimeout = 20 * time.Second
	// stopTimeout bounds the wait for exit after SIGTERM.
	stopTimeout  = 5 * time.Second
	logTailLines = 60

	// defaultListen is the one listen address of startRelay and
	// launchRelay; startRelayOn and launchRelayOn choose their own.
	defaultListen = "/ip4/127.0.0.1/tcp/0"
)

// relayBinary is the outcome of building one relay kind in TestMain.
type relayBinary struct {
	path string
	err  error // why the binary cannot be used; reported by every test of that kind
}

// binaries is written once by TestMain before any test runs and only read
// afterwards.
var binaries = map[string]relayBinary{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relayd-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
	for _, kind := range kinds() {
		switch kind {
		case kindReference:
			binaries[kind] = buildBinary(".", "./cmd/refrelay", filepath.Join(dir, "refrelay"))
		case kindRelayd:
			binaries[kind] = relaydBinary(dir)
		}
	}
	for kind, b := range binaries {
		if b.err != nil {
			fmt.Fprintf(os.Stderr, "interop: %s unavailable, its subtests will fail: %v\n", kind, b.err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// relaydBinary uses $RELAYD_BIN if set (a prebuilt relayd), else builds
// ../cmd/relayd: with the relayd_frametrace tag for TestCompare's
// residency figures (RELAYD_COMPARE_RESIDENCY=1).
func relaydBinary(dir string) relayBinary {
	if p := os.Getenv("RELAYD_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return relayBinary{err: fmt.Errorf("RELAYD_BIN: %w", err)}
		}
		return relayBinary{path: p}
	}
	var flags []string
	if residencyWanted() {
		flags = []string{"-tags", "relayd_frametrace"}
	}
	return buildBinary("..", "./cmd/relayd", filepath.Join(dir, "relayd"), flags...)
}

func buildBinary(moduleDir, pkg, out string, flags ...string) relayBinary {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: go build %s (in %s) output:\n%s\n", pkg, moduleDir, b)
		return relayBinary{err: fmt.Errorf("go build %s (in %s): %w: %s", pkg, moduleDir, err, firstLines(string(b), 3))}
	}
	return relayBinary{path: out}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines[n] = "..."
	}
	return strings.Join(lines, " | ")
}

// kinds lists the relay kinds to run, all by default; RELAYD_INTEROP_KINDS
// (comma-separated) narrows it, e.g. to "reference" while relayd is absent.
func kinds() []string {
	v := os.Getenv("RELAYD_INTEROP_KINDS")
	if v == "" {
		return []string{kindRelayd, kindReference}
	}
	return strings.Split(v, ",")
}

// forEachKind runs fn as one subtest per relay kind.
func forEachKind(t *testing.T, fn func(t *testing.T, kind string)) {
	t.Helper()
	for _, kind := range kinds() {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
}

// relayProc is a running relay process.
type relayProc struct {
	Kind string
	Info peer.AddrInfo // ID and every "listening" address (without /p2p)
	Pid  int

	cmd      *exec.Cmd
	logs     *logTail
	exited   chan struct{} // closed when cmd.Wait returned
	waitErr  error         // set before exited is closed
	stopOnce sync.Once
}

// Addr is the first listen address with /p2p/<relay> appended.
func (r *relayProc) Addr() ma.Multiaddr {
	return r.Info.Addrs[0].Encapsulate(p2pComponent(r.Info.ID))
}

// CircuitAddr is the address through which target is reached via this relay.
func (r *relayProc) CircuitAddr(target peer.ID) ma.Multiaddr {
	circ := ma.StringCast("/p2p-circuit")
	return r.Addr().Encapsulate(circ).Encapsulate(p2pComponent(target))
}

// startRelay starts a relay of kind ("relayd" or "reference") on a fresh
// identity file, waits for its "relayd started" line and returns it. The
// process is stopped in t.Cleanup. flags are the limit flags of the
// contract (--unlimited, --limit-data N, ...).
func startRelay(t testing.TB, kind string, flags ...string) *relayProc {
	t.Helper()
	return startRelayOn(t, kind, []string{defaultListen}, flags...)
}

// startRelayOn is startRelay listening on exactly the addresses in listen
// (one --listen each, in that order) instead of defaultListen.
func startRelayOn(t testing.TB, kind string, listen []string, flags ...string) *relayProc {
	t.Helper()
	keyFile, want := writeIdentity(t)
	r := launchRelayOn(t, kind, keyFile, listen, flags...)
	if r.Info.ID != want {
		t.Fatalf("%s announced peer %s, but its identity file holds %s", kind, r.Info.ID, want)
	}
	return r
}

// launchRelay starts a relay on keyFile (which may not exist yet) and waits
// until it is ready.
func launchRelay(t testing.TB, kind, keyFile string, flags ...string) *relayProc {
	t.Helper()
	return launchRelayOn(t, kind, keyFile, []string{defaultListen}, flags...)
}

// launchRelayOn is launchRelay listening on the addresses in listen.
func launchRelayOn(t testing.TB, kind, keyFile string, listen []string, flags ...string) *relayProc {
	t.Helper()
	bin, ok := binaries[kind]
	if !ok {
		t.Fatalf("unknown relay kind %q", kind)
	}
	if bin.err != nil {
		t.Fatalf("%s binary unavailable: %v", kind, bin.err)
	}
	// relayd serves /metrics on 127.0.0.1:9494 by default; parallel relays
	// (and anything else on the machine) would collide on that port.
	args := []string{"serve", "--identity", keyFile,
		"--admin-listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug"}
	for _, a := range listen {
		args = append(args, "--listen", a)
	}
	args = append(args, flags...)
	r := &relayProc{Kind: kind, logs: newLogTail(logTailLines), exited: make(chan struct{})}
	r.cmd = exec.Command(bin.path, args...)
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatalf("%s: stderr pipe: %v", kind, err)
	}
	r.cmd.Stdout = io.Discard
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("%s: start %s: %v", kind, bin.path, err)
	}
	r.Pid = r.cmd.Process.Pid
	ready := make(chan readyLine, 1)
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		scanLogs(stderr, r.logs, ready)
	}()
	go func() {
		<-logsDone // Wait closes the pipe; read it to the end first
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.Stop(t)
		if t.Failed() {
			t.Logf("last %s log lines:\n%s", kind, r.logs.String())
		}
	})
	r.awaitReady(t, ready, args)
	return r
}

func (r *relayProc) awaitReady(t testing.TB, ready <-chan readyLine, args []string) {
	t.Helper()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case rl := <-ready:
		if rl.err != nil {
			t.Fatalf("%s: bad start-up log: %v", r.Kind, rl.err)
		}
		r.Info = rl.info
	case <-r.exited:
		t.Fatalf("%s exited before logging \"relayd started\" (%v); args %q", r.Kind, r.waitErr, args)
	case <-timer.C:
		t.Fatalf("%s did not log \"relayd started\" within %v; args %q", r.Kind, startTimeout, args)
	}
}

// Stop sends SIGTERM and waits (bounded) for a clean exit. A relay that
// crashed during the test, exits non-zero on SIGTERM, or ignores it (then
// it is killed) fails the test: the contract says it exits on SIGTERM.
func (r *relayProc) Stop(t testing.TB) {
	r.stopOnce.Do(func() {
		if r.Exited() {
			if !t.Failed() {
				t.Errorf("%s exited during the test: %v", r.Kind, r.waitErr)
			}
			return
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		if r.waitExit(stopTimeout) {
			if r.waitErr != nil {
				t.Errorf("%s exited with %v after SIGTERM, want 0", r.Kind, r.waitErr)
			}
			return
		}
		_ = r.cmd.Process.Kill()
		t.Errorf("%s did not exit within %v of SIGTERM; killed", r.Kind, stopTimeout)
		if !r.waitExit(stopTimeout) {
			t.Errorf("%s (pid %d) still not reaped after SIGKILL", r.Kind, r.Pid)
		}
	})
}

func (r *relayProc) waitExit(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-r.exited:
		return true
	case <-timer.C:
		return false
	}
}

// Exited reports whether the process has ended (e.g. crashed).
func (r *relayProc) Exited() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

// readyLine is what the start-up log lines yield.
type readyLine struct {
	info peer.AddrInfo
	err  error
}

// logLine holds the fields of the contract's JSON lines.
type logLine struct {
	Msg  string `json:"msg"`
	Addr string `json:"addr"`
	Peer string `json:"peer"`
}

// scanLogs keeps the tail of the log and sends one readyLine once
// "relayd started" is seen. Lines that are not JSON are kept but not parsed.
func scanLogs(r io.Reader, tail *logTail, ready chan<- readyLine) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var addrs []string
	sent := false
	for sc.Scan() {
		line := sc.Text()
		tail.add(line)
		var l logLine
		if sent || json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch l.Msg {
		case "listening":
			addrs = append(addrs, l.Addr)
		case "relayd started":
			info, err := parseReady(addrs, l.Peer)
			ready <- readyLine{info: info, err: err}
			sent = true
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

func parseReady(addrs []string, peerStr string) (peer.AddrInfo, error) {
	id, err := peer.Decode(peerStr)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("\"relayd started\" peer %q: %w", peerStr, err)
	}
	info := peer.AddrInfo{ID: id}
	if len(addrs) == 0 {
		return info, errors.New("no \"listening\" line before \"relayd started\"")
	}
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return info, fmt.Errorf("\"listening\" addr %q: %w", s, err)
		}
		transport, aid := peer.SplitAddr(a)
		if aid != id {
			return info, fmt.Errorf("\"listening\" addr %q does not end in /p2p/%s", s, id)
		}
		info.Addrs = append(info.Addrs, transport)
	}
	return info, nil
}

// logTail keeps the last n lines of a process log for failure messages.
type logTail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func newLogTail(n int) *logTail { return &logTail{n: n} }

func (l *logTail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	if len(l.lines) > l.n {
		l.lines = l.lines[len(l.lines)-l.n:]
	}
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// writeIdentity writes a fresh Ed25519 identity file the way go-libp2p
// marshals keys, so the relay's peer ID is known in advance.
func writeIdentity(t testing.TB) (string, peer.ID) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "identity.key")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return path, id
}

func p2pComponent(id peer.ID) ma.Multiaddr {
	c, err := ma.NewComponent("p2p", id.String())
	if err != nil {
		panic(err) // a valid peer.ID always encodes
	}
	return c.Multiaddr()
}
