package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// jsDir is the npm project with the js-libp2p peers (see js/README.md).
const jsDir = "js"

const (
	npmTimeout = 5 * time.Minute
	// jsStopTimeout bounds the wait for a js peer to exit once its stdin is
	// closed; Chromium takes a second or two to shut down.
	jsStopTimeout = 10 * time.Second
)

// inCI reports whether the suite runs in CI (CI=true, as .ci/run's callers
// set it), where a missing tool is a failure rather than a skip.
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// requireTools skips the test when a tool is missing, or fails it in CI.
// A tool is a command name or an absolute path.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if inCI() {
				t.Fatalf("%s is required (CI is set): %v; see interop/README.md", tool, err)
			}
			t.Skipf("%s not found (%v); see interop/README.md (with CI=true this fails)", tool, err)
		}
	}
}

// chromiumPath is $CHROMIUM, else Debian's /usr/bin/chromium.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// jsSetup runs npm ci and the browser bundle build once per test binary.
var jsSetup struct {
	once sync.Once
	err  error
}

// prepareJS makes js/node_modules match js/package-lock.json and builds
// js/dist/browser.js, once per test binary.
func prepareJS(t *testing.T) {
	t.Helper()
	jsSetup.once.Do(func() { jsSetup.err = installAndBuild() })
	if jsSetup.err != nil {
		t.Fatalf("preparing %s: %v", jsDir, jsSetup.err)
	}
}

// installAndBuild skips npm ci when node_modules was installed from the
// same package.json and lockfile (a stamp file holds their hash).
func installAndBuild() error {
	sum, err := lockHash()
	if err != nil {
		return err
	}
	stamp := filepath.Join(jsDir, "node_modules", ".relayd-interop-lock")
	if b, err := os.ReadFile(stamp); err != nil || string(b) != sum {
		// --prefer-offline: tarballs already in the npm cache (content-addressed,
		// checked against the lockfile's integrity) are used without asking the
		// registry again.
		if err := runNPM("ci", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"); err != nil {
			return err
		}
		if err := os.WriteFile(stamp, []byte(sum), 0o644); err != nil {
			return fmt.Errorf("writing npm stamp: %w", err)
		}
	}
	return runNPM("run", "--silent", "build")
}

func lockHash() (string, error) {
	h := sha256.New()
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(jsDir, f))
		if err != nil {
			return "", fmt.Errorf("reading npm project: %w", err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func runNPM(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = jsDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm %v (in %s): %w\n%s", args, jsDir, err, out)
	}
	return nil
}

// jsEvent is one JSON line a js peer prints on stdout (js/src/peer.js).
type jsEvent struct {
	Event      string   `json:"event"`
	Peer       string   `json:"peer"`
	Addrs      []string `json:"addrs"`
	Bytes      int      `json:"bytes"`
	RemotePeer string   `json:"remotePeer"`
	RemoteAddr string   `json:"remoteAddr"`
	Limited    bool     `json:"limited"`
	Version    string   `json:"version"`
	Error      string   `json:"error"`
}

// jsPeer is a running js peer process: `node <script> <relay addr>` in js/.
type jsPeer struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	events  chan jsEvent
	logs    *logTail
	exited  chan struct{}
	waitErr error
}

// startJSPeer runs script (js/src/node.js or js/src/chromium.js) against
// relay; it ends in t.Cleanup by closing its stdin.
func startJSPeer(t *testing.T, script string, relay ma.Multiaddr, env ...string) *jsPeer {
	t.Helper()
	p := &jsPeer{name: script, events: make(chan jsEvent, 16), logs: newLogTail(2 * logTailLines), exited: make(chan struct{})}
	p.cmd = exec.Command("node", script, relay.String())
	p.cmd.Dir = jsDir
	p.cmd.Env = append(os.Environ(), env...)
	// Its own process group, so Chromium goes too if the driver is killed.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A grandchild holding stderr open must not keep Wait from returning.
	p.cmd.WaitDelay = 2 * time.Second
	p.cmd.Stderr = &lineWriter{tail: p.logs}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	go p.readEvents(stdout)
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("last %s output:\n%s", script, p.logs.String())
		}
	})
	return p
}

// readEvents parses stdout, then reaps the process.
func (p *jsPeer) readEvents(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.logs.add(sc.Text())
		var ev jsEvent
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event != "" {
			select {
			case p.events <- ev:
			default: // nobody waits for that many events; kept in logs only
			}
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	p.waitErr = p.cmd.Wait()
	close(p.exited)
}

// await returns the next event, which must be want. An "error" event, an
// early exit or the timeout fails the test.
func (p *jsPeer) await(t *testing.T, want string, d time.Duration) jsEvent {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-p.events:
			switch ev.Event {
			case want:
				return ev
			case "error":
				t.Fatalf("%s reported an error while we waited for %q: %s", p.name, want, ev.Error)
			case "browser":
				t.Logf("%s: Chromium %s", p.name, ev.Version)
			default:
				t.Fatalf("%s: got event %q, want %q: %+v", p.name, ev.Event, want, ev)
			}
		case <-p.exited:
			t.Fatalf("%s exited (%v) while we waited for %q", p.name, p.waitErr, want)
		case <-timer.C:
			t.Fatalf("%s: no %q event within %v", p.name, want, d)
		}
	}
}

// stop closes stdin (the peer exits on EOF) and kills the process group if
// it lingers.
func (p *jsPeer) stop(t *testing.T) {
	_ = p.stdin.Close()
	if waitClosed(p.exited, jsStopTimeout) {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if !waitClosed(p.exited, jsStopTimeout) {
		t.Errorf("%s (pid %d) not reaped after SIGKILL", p.name, p.cmd.Process.Pid)
		return
	}
	t.Errorf("%s did not exit within %v of closing its stdin; killed", p.name, jsStopTimeout)
}

func waitClosed(c <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-c:
		return true
	case <-timer.C:
		return false
	}
}

// lineWriter feeds a process's stderr, line by line, into a logTail.
// os/exec calls Write from one goroutine.
type lineWriter struct {
	tail    *logTail
	partial []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.tail.add(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}
