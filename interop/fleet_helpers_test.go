package interop

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fleetHeartbeatTTL keeps the liveness tests short: a killed node's entries
// leave the fleet within this.
const fleetHeartbeatTTL = 2 * time.Second

// fleetNode is one relayd process of a test fleet.
type fleetNode struct {
	*relayProc
	ID    string // --node-id
	Admin string // host:port of its admin endpoint (/metrics)
	Mesh  string // host:port of --mesh-listen and --mesh-advertise
}

// testFleet is N relayd processes on one identity, one mesh secret and one
// redis-server.
type testFleet struct {
	RedisURL string
	Key      string // the shared identity file
	Secret   string // the shared mesh secret file
	Nodes    []*fleetNode
	listen   []string
	flags    []string
	// advertise, when set, gives the --mesh-advertise of a node from its
	// --mesh-listen (e.g. a proxy in front of it).
	advertise func(t *testing.T, listen string) string
}

// fleetQuotas lifts the per-node request rates (every client here is
// 127.0.0.1 and the tests reserve and dial quickly) but keeps the
// reservation quotas unless flags override them.
func fleetRates() []string {
	return []string{
		"--conn-rate-per-ip", "0",
		"--reserve-rate-per-ip", "0",
		"--reserve-rate-per-peer", "0",
		"--connect-rate-per-ip", "0",
		"--connect-rate-per-peer", "0",
	}
}

// startFleet starts n relayd nodes (n1..nn) sharing redisURL, one identity
// and one mesh secret, each listening on listen (fresh ports) with flags.
func startFleet(t *testing.T, redisURL string, n int, listen []string, flags ...string) *testFleet {
	t.Helper()
	return startFleetWith(t, &testFleet{RedisURL: redisURL, listen: listen, flags: flags}, n)
}

// startFleetWith is startFleet with f's RedisURL, listen, flags and
// advertise.
func startFleetWith(t *testing.T, f *testFleet, n int) *testFleet {
	t.Helper()
	bin := binaries[kindRelayd]
	if bin.err != nil {
		t.Fatalf("relayd binary unavailable: %v", bin.err)
	}
	requireFleetFlags(t, bin.path)
	dir := t.TempDir()
	key, _ := writeIdentity(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	f.Key, f.Secret = key, filepath.Join(dir, "mesh.secret")
	if err := os.WriteFile(f.Secret, []byte(hex.EncodeToString(secret)), 0o400); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f.Nodes = append(f.Nodes, f.launch(t, fmt.Sprintf("n%d", i+1)))
	}
	for _, nd := range f.Nodes[1:] {
		if nd.Info.ID != f.Nodes[0].Info.ID {
			t.Fatalf("nodes do not share one identity: %s, %s", f.Nodes[0].Info.ID, nd.Info.ID)
		}
	}
	// Every node must see the whole fleet before a test relies on the
	// directory (mesh addresses) or on fleet-wide counts.
	for _, nd := range f.Nodes {
		nd.awaitMetric(t, 10*time.Second, "relayd_fleet_nodes", nil, func(v float64) bool { return v == float64(n) })
	}
	return f
}

// launch starts one node named id.
func (f *testFleet) launch(t *testing.T, id string) *fleetNode {
	t.Helper()
	nd := &fleetNode{ID: id,
		Admin: net.JoinHostPort("127.0.0.1", strconv.Itoa(freeTCPUDPPort(t))),
		Mesh:  net.JoinHostPort("127.0.0.1", strconv.Itoa(freeTCPUDPPort(t)))}
	advertise := nd.Mesh
	if f.advertise != nil {
		advertise = f.advertise(t, nd.Mesh)
	}
	args := append(fleetRates(),
		"--redis", f.RedisURL, "--node-id", id,
		"--mesh-listen", nd.Mesh, "--mesh-advertise", advertise, "--mesh-secret", f.Secret,
		"--heartbeat-ttl", fleetHeartbeatTTL.String(),
		"--drain-timeout", "2s",
		// After the harness's --admin-listen 127.0.0.1:0: the last one wins.
		"--admin-listen", nd.Admin)
	nd.relayProc = launchRelayOn(t, kindRelayd, f.Key, f.listen, append(args, f.flags...)...)
	return nd
}

// kill ends the node with SIGKILL (no drain, nothing removed from Redis)
// and marks it stopped, so the harness's cleanup does not complain.
func (nd *fleetNode) kill(t *testing.T) {
	t.Helper()
	nd.stopOnce.Do(func() {
		_ = nd.cmd.Process.Kill()
		if !nd.waitExit(stopTimeout) {
			t.Errorf("%s (pid %d) not reaped after SIGKILL", nd.ID, nd.Pid)
		}
	})
}

// metrics fetches the node's /metrics text.
func (nd *fleetNode) metrics(t *testing.T) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + nd.Admin + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", nd.ID, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s /metrics: %d %v", nd.ID, resp.StatusCode, err)
	}
	return string(b)
}

// metric is the sum of the samples of name whose labels include every pair
// in labels (nil: all samples).
func (nd *fleetNode) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return metricSum(nd.metrics(t), name, labels)
}

// awaitMetric polls the node's metric until ok holds, or fails after d.
func (nd *fleetNode) awaitMetric(t *testing.T, d time.Duration, name string, labels map[string]string, ok func(float64) bool) float64 {
	t.Helper()
	var v float64
	if !waitFor(d, func() bool { v = nd.metric(t, name, labels); return ok(v) }) {
		t.Fatalf("%s: %s%v is %v after %v", nd.ID, name, labels, v, d)
	}
	return v
}

// metricSum parses the Prometheus text format just enough: one sample per
// line, "name{k="v",...} value".
func metricSum(text, name string, labels map[string]string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, val := line[:i], line[i+1:]
		n, lbl, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		match := true
		for k, v := range labels {
			if !strings.Contains(lbl, k+`="`+v+`"`) {
				match = false
			}
		}
		if !match {
			continue
		}
		if x, err := strconv.ParseFloat(val, 64); err == nil {
			sum += x
		}
	}
	return sum
}

// redisCLI runs redis-cli against url and returns its trimmed output.
func redisCLI(t *testing.T, url string, args ...string) string {
	t.Helper()
	out, err := exec.Command("redis-cli", append([]string{"-u", url}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// liveReservations counts the reservations the fleet holds in Redis: the
// members of the "all" index of peers whose record (res:<peer>) still
// exists and whose node is alive. It reads Redis directly, independent of
// any node's metrics.
func liveReservations(t *testing.T, url string) int {
	t.Helper()
	const script = `
local now = tonumber(ARGV[1])
local n = 0
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local node = redis.call('HGET', ARGV[2] .. 'res:' .. p, 'node')
  if node then
    local hb = redis.call('ZSCORE', ARGV[2] .. 'nodes', node)
    if hb and tonumber(hb) > now then n = n + 1 end
  end
end
return n`
	p := "relayd:{fleet}:"
	out := redisCLI(t, url, "EVAL", script, "1", p+"all", strconv.FormatInt(time.Now().UnixMilli(), 10), p)
	n, err := strconv.Atoi(strings.TrimPrefix(out, "(integer) "))
	if err != nil {
		t.Fatalf("counting reservations in Redis: %q", out)
	}
	return n
}

// nodeEntries counts what Redis holds for node: its peer index and its
// reservation records.
func nodeEntries(t *testing.T, url, node string) int {
	t.Helper()
	out := redisCLI(t, url, "ZCARD", "relayd:{fleet}:node:"+node+":peers")
	n, _ := strconv.Atoi(strings.TrimPrefix(out, "(integer) "))
	return n
}

// restartableRedis is a redis-server that a test can stop and start again
// on the same port.
type restartableRedis struct {
	URL  string
	port int
	dir  string
	cmd  *exec.Cmd
	out  bytes.Buffer
}

// startRestartableRedis is startRedis for the outage test.
func startRestartableRedis(t *testing.T) *restartableRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed; .ci/run installs it")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	r := &restartableRedis{port: freeTCPUDPPort(t), dir: t.TempDir()}
	r.URL = "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0"
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *restartableRedis) start(t *testing.T) {
	t.Helper()
	r.out.Reset()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	if !waitFor(10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("redis-server did not listen on %s:\n%s", addr, r.out.String())
	}
}

// kill stops redis-server at once (SIGKILL): its data is gone, as after a
// crash of an instance without persistence.
func (r *restartableRedis) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *restartableRedis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// cutProxy forwards TCP connections to a fixed address until cut: then it
// closes every connection it carries (both ends see the link drop), and
// keeps accepting new ones.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		d, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[d] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, d)
		go p.pipe(d, c)
	}
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// cut closes every carried connection and returns how many links it cut.
func (p *cutProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	n := len(p.conns) / 2
	clear(p.conns)
	return n
}
