package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long a redis-server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server process on 127.0.0.1.
type Server struct {
	// Addr is host:port, fixed for the Server's life (Restart reuses it).
	Addr string

	bin  string
	dir  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited and been reaped
	log  *os.File
}

// URL is the redis:// URL of the server, for go-redis ParseURL or --redis.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Start runs a redis-server on a free loopback port until t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary(t, "redis-server")
	for try := 0; ; try++ {
		s := newServer(t, bin, freePort(t, false), nil)
		err := s.start()
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if try == 4 {
			t.Fatalf("redistest: %v", err)
		}
	}
}

func newServer(t testing.TB, bin string, port int, extra []string) *Server {
	dir := t.TempDir()
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
	}, extra...)
	return &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, dir: dir, args: args}
}

// Stop kills the server (SIGKILL: a crash, as a fault test wants) and
// waits for it. It is safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
	s.log.Close()
}

// Restart starts a stopped server again on the same port, empty: without
// persistence a restarted Redis has lost every key, as after a crash.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("redis-server on %s already running", s.Addr)
	}
	logf, err := os.Create(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	// This goroutine owns reaping the process; Stop waits for it.
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if err := waitPing(s.Addr, done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		logf.Close()
		out, _ := os.ReadFile(logf.Name())
		return fmt.Errorf("redis-server on %s: %w\n%s", s.Addr, err, lastLines(string(out), 10))
	}
	s.cmd, s.done, s.log = cmd, done, logf
	return nil
}

// waitPing polls addr with PING until it answers PONG, the process exits
// (done closes) or startTimeout passes.
func waitPing(addr string, done <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		if err := Ping(addr); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v: %w", startTimeout, err)
		}
		select {
		case <-done:
			return errors.New("redis-server exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Ping sends one PING to addr and reports whether PONG came back.
func Ping(addr string) error {
	return command(addr, "PING", "+PONG")
}

// command sends one inline command and checks the reply's prefix.
func command(addr, cmd, want string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, want) {
		return fmt.Errorf("%s: got %q", cmd, strings.TrimSpace(line))
	}
	return nil
}

// binary finds a tool on PATH, or skips (fails under CI) naming the
// Debian package that has it.
func binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	pkg := map[string]string{"redis-server": "redis-server", "redis-cli": "redis-tools"}[name]
	msg := fmt.Sprintf("redistest: %s not found; install it: apt-get install %s", name, pkg)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort picks a loopback TCP port that is free now; with bus, port+10000
// (a cluster node's bus port) is free too.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if bus && (port+10000 > 65535 || !portFree(port+10000)) {
			continue
		}
		return port
	}
	t.Fatal("redistest: no free loopback port found")
	return 0
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
