package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
)

// TestSignals runs the built binary and signals it the way an init system
// or an operator does: the first SIGTERM drains (the open circuit keeps
// flowing, /readyz is 503, new connections are refused) and exits 0 when
// the circuit ends or the drain times out; a second signal exits at once.
func TestSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relayd binary")
	}
	bin := buildRelayd(t)
	t.Run("drain completes", func(t *testing.T) {
		leakcheck.Check(t)
		d := startDaemon(t, bin, "--drain-timeout", "30s")
		st := d.openCircuit(t)
		roundTrip(t, st, 4<<10)
		d.signal(t, syscall.SIGTERM)
		d.waitReadyz(t, http.StatusServiceUnavailable)
		if _, err := newClientHost(t).Dial(ctxT(t), d.addr, d.id); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("new connection while draining: %v, want connection refused", err)
		}
		roundTrip(t, st, 64<<10) // still flowing
		st.Close()
		io.Copy(io.Discard, st)
		d.wantExit(t, exitOK, `"msg":"drained"`)
	})
	t.Run("drain times out", func(t *testing.T) {
		leakcheck.Check(t)
		d := startDaemon(t, bin, "--drain-timeout", "1s")
		st := d.openCircuit(t)
		defer st.Close()
		d.signal(t, syscall.SIGTERM)
		d.wantExit(t, exitOK, `"msg":"drain timed out, closing open circuits"`)
	})
	t.Run("second signal exits at once", func(t *testing.T) {
		leakcheck.Check(t)
		d := startDaemon(t, bin, "--drain-timeout", "1h")
		st := d.openCircuit(t)
		defer st.Close()
		d.signal(t, syscall.SIGINT)
		d.waitReadyz(t, http.StatusServiceUnavailable) // the first was handled
		d.signal(t, syscall.SIGINT)
		d.wantExit(t, exitFailure, "relayd: second signal (interrupt)")
	})
	t.Run("idle", func(t *testing.T) {
		leakcheck.Check(t)
		d := startDaemon(t, bin)
		d.signal(t, syscall.SIGTERM)
		d.wantExit(t, exitOK, `"msg":"stopped"`)
	})
}

func buildRelayd(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	bin := filepath.Join(t.TempDir(), "relayd")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// daemon is one running relayd process.
type daemon struct {
	cmd    *exec.Cmd
	admin  string // http://host:port
	addr   ma.Multiaddr
	id     identity.PeerID
	exited chan struct{}

	mu     sync.Mutex
	stderr bytes.Buffer
}

// startDaemon runs bin on loopback with JSON logs and waits until it is
// ready; it is killed at the end of the test if still running.
func startDaemon(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	args = append([]string{
		"--identity", filepath.Join(dir, "key"), "--listen", "/ip4/127.0.0.1/tcp/0",
		"--admin-listen", "127.0.0.1:0", "--log-format", "json", "--unlimited",
	}, args...)
	d := &daemon{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	pipe, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go d.readLogs(pipe, started)
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
	})
	select {
	case <-started:
	case <-d.exited:
		t.Fatalf("relayd exited at start:\n%s", d.logs())
	case <-time.After(20 * time.Second):
		t.Fatalf("relayd did not start:\n%s", d.logs())
	}
	d.waitReadyz(t, http.StatusOK)
	return d
}

// readLogs keeps stderr, takes the addresses from the start-up lines and
// waits for the process.
func (d *daemon) readLogs(r io.Reader, started chan<- struct{}) {
	defer close(d.exited)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		d.mu.Lock()
		d.stderr.Write(sc.Bytes())
		d.stderr.WriteByte('\n')
		d.mu.Unlock()
		var line struct{ Msg, Addr, Peer string }
		json.Unmarshal(sc.Bytes(), &line)
		switch line.Msg {
		case "admin listening":
			d.admin = "http://" + line.Addr
		case "listening": // the host dials addresses without /p2p
			if a, err := ma.NewMultiaddr(line.Addr); err == nil {
				d.addr, _ = ma.SplitLast(a)
			}
		case "relayd started":
			d.id, _ = identity.Decode(line.Peer)
			close(started)
		}
	}
	d.cmd.Wait()
}

func (d *daemon) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

func (d *daemon) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

func (d *daemon) waitReadyz(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(d.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered %d (last: %v)\n%s", want, err, d.logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantExit waits (at most 20 s) for the process to exit with code and to
// have logged a line containing logged.
func (d *daemon) wantExit(t *testing.T, code int, logged string) {
	t.Helper()
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("relayd still running 20 s after the signal:\n%s", d.logs())
	}
	if got := d.cmd.ProcessState.ExitCode(); got != code {
		t.Errorf("exit code %d, want %d", got, code)
	}
	if !strings.Contains(d.logs(), logged) {
		t.Errorf("stderr lacks %q:\n%s", logged, d.logs())
	}
}

// openCircuit connects an echoing target and a source to the daemon and
// returns the source's end of a circuit between them.
func (d *daemon) openCircuit(t *testing.T) *host.Stream {
	t.Helper()
	target := newClientHost(t)
	if _, err := target.Dial(ctxT(t), d.addr, d.id); err != nil {
		t.Fatal(err)
	}
	target.Handle(wire.ProtoStop, circuit.StopHandler(func(_ identity.PeerID, _ *wire.Limit, s *host.Stream) {
		defer s.Close()
		io.Copy(s, s)
	}))
	if _, err := circuit.Reserve(ctxT(t), target, d.id); err != nil {
		t.Fatal(err)
	}
	src := newClientHost(t)
	if _, err := src.Dial(ctxT(t), d.addr, d.id); err != nil {
		t.Fatal(err)
	}
	st, _, err := circuit.Connect(ctxT(t), src, d.id, target.ID())
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(20 * time.Second))
	return st
}

func newClientHost(t *testing.T) *host.Host {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(host.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// roundTrip sends n random bytes through the echoing circuit and checks
// they come back.
func roundTrip(t *testing.T, st *host.Stream, n int) {
	t.Helper()
	msg := make([]byte, n)
	rand.Read(msg)
	errc := make(chan error, 1)
	go func() {
		_, err := st.Write(msg)
		errc <- err
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(st, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
