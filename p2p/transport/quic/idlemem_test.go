package quic

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/transport"
)

// TestIdleConnHeap measures the listener side's heap per idle QUIC
// connection: a child process (this test binary again, as
// TestIdleConnHeapClient) dials N connections and leaves them idle, so only
// the server's share is counted. A measurement, not a check: it runs only
// with RELAYD_MEASURE=1 and logs KiB per connection.
func TestIdleConnHeap(t *testing.T) {
	if os.Getenv("RELAYD_MEASURE") == "" {
		t.Skip("a measurement; set RELAYD_MEASURE=1")
	}
	const n = 200
	s := newServer(t, 64)
	before := heapInuse()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleConnHeapClient$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RELAYD_MEASURE_ADDR="+s.l.Multiaddr().String(), "RELAYD_MEASURE_N="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	var conns []transport.SecureConn
	for range n {
		conns = append(conns, s.accept(t))
	}
	time.Sleep(time.Second) // let the handshakes' last packets settle
	after := heapInuse()
	t.Logf("listener heap per idle QUIC connection: %.1f KiB (N=%d)", float64(after-before)/n/1024, n)
	if path := os.Getenv("RELAYD_MEASURE_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	runtime.KeepAlive(conns)
}

func heapInuse() uint64 {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestIdleConnHeapClient is TestIdleConnHeap's child process.
func TestIdleConnHeapClient(t *testing.T) {
	addr, n := os.Getenv("RELAYD_MEASURE_ADDR"), os.Getenv("RELAYD_MEASURE_N")
	if addr == "" {
		t.Skip("run by TestIdleConnHeap")
	}
	count, _ := strconv.Atoi(n)
	tr := newTransport(t, newKey(t))
	for range count {
		c, err := tr.Dial(ctx10(t), ma.StringCast(addr), "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	fmt.Fprintln(os.Stderr, "client: dialed", count)
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent is done
}
