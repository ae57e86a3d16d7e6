package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	pp "github.com/pires/go-proxyproto"

	"github.com/relayd/relayd/internal/leakcheck"
)

var (
	lb      = netip.MustParseAddrPort("127.0.0.1:40000")
	trusted = Config{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	nobody  = Config{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
)

// header formats a PROXY header from src to dst in version v.
func header(t testing.TB, v byte, src, dst string) []byte {
	t.Helper()
	h := pp.HeaderProxyFromAddrs(v, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func v2Local(t testing.TB) []byte {
	h := &pp.Header{Version: 2, Command: pp.LOCAL, TransportProtocol: pp.UNSPEC}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func v2UDP(t testing.TB) []byte {
	h := pp.HeaderProxyFromAddrs(2, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 2})
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadHeader(t *testing.T) {
	const payload = "\x13/multistream/1.0.0\n"
	tests := []struct {
		name   string
		cfg    Config
		input  []byte
		client string // "" = lb
		err    error
	}{
		{"trusted, no header", trusted, nil, "", nil},
		{"trusted, v1 TCP4", trusted, header(t, 1, "203.0.113.7:5555", "192.0.2.1:4001"), "203.0.113.7:5555", nil},
		{"trusted, v1 TCP6", trusted, header(t, 1, "[2001:db8::7]:5555", "[2001:db8::1]:4001"), "[2001:db8::7]:5555", nil},
		{"trusted, v1 UNKNOWN", trusted, []byte("PROXY UNKNOWN\r\n"), "", nil},
		{"trusted, v2 TCP4", trusted, header(t, 2, "198.51.100.9:1234", "192.0.2.1:4001"), "198.51.100.9:1234", nil},
		{"trusted, v2 TCP6", trusted, header(t, 2, "[2001:db8::9]:1234", "[2001:db8::1]:4001"), "[2001:db8::9]:1234", nil},
		{"trusted, v2 LOCAL", trusted, v2Local(t), "", nil},
		{"trusted, v2 UDP", trusted, v2UDP(t), "", ErrUnsupported},
		{"untrusted, no header", nobody, nil, "", nil},
		{"untrusted, v1", nobody, header(t, 1, "203.0.113.7:5555", "192.0.2.1:4001"), "", ErrUntrusted},
		{"untrusted, v2", nobody, header(t, 2, "203.0.113.7:5555", "192.0.2.1:4001"), "", ErrUntrusted},
		{"disabled, v1", Config{}, header(t, 1, "203.0.113.7:5555", "192.0.2.1:4001"), "", ErrUntrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(bytes.NewReader(append(tt.input, payload...)), headerBufSize)
			got, err := ReadHeader(br, lb, tt.cfg)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			want := lb
			if tt.client != "" {
				want = netip.MustParseAddrPort(tt.client)
			}
			if got != want {
				t.Fatalf("client %v, want %v", got, want)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != payload {
				t.Fatalf("after the header: %q", rest)
			}
		})
	}
}

// TestTruncatedHeaders: every proper prefix of a valid header, followed by
// the end of the stream, is an error, never a client address.
func TestTruncatedHeaders(t *testing.T) {
	for _, h := range [][]byte{
		header(t, 1, "203.0.113.7:5555", "192.0.2.1:4001"),
		header(t, 1, "[2001:db8::7]:5555", "[2001:db8::1]:4001"),
		header(t, 2, "203.0.113.7:5555", "192.0.2.1:4001"),
		header(t, 2, "[2001:db8::7]:5555", "[2001:db8::1]:4001"),
		v2Local(t),
	} {
		for n := 1; n < len(h); n++ {
			br := bufio.NewReaderSize(bytes.NewReader(h[:n]), headerBufSize)
			if got, err := ReadHeader(br, lb, trusted); err == nil {
				t.Fatalf("%q cut to %d bytes: client %v, no error", h, n, got)
			}
		}
	}
}

// tcpPair is a loopback TCP connection accepted through NewListener(cfg).
func tcpPair(t *testing.T, cfg Config) (client, server net.Conn) {
	t.Helper()
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(nl, cfg)
	t.Cleanup(func() { l.Close() })
	client, err = net.Dial("tcp", nl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = l.Accept() // returns at once: no I/O in Accept
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

func TestListener(t *testing.T) {
	leakcheck.Check(t)
	t.Run("trusted header gives the client address", func(t *testing.T) {
		client, server := tcpPair(t, trusted)
		client.Write(append(header(t, 2, "203.0.113.7:5555", "192.0.2.1:4001"), "hello"...))
		if got := server.RemoteAddr().String(); got != "203.0.113.7:5555" {
			t.Fatalf("RemoteAddr = %s", got)
		}
		buf := make([]byte, 5)
		server.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("read %q, %v", buf, err)
		}
	})
	t.Run("untrusted header closes the connection", func(t *testing.T) {
		client, server := tcpPair(t, nobody)
		client.Write(header(t, 1, "203.0.113.7:5555", "192.0.2.1:4001"))
		if _, err := server.Read(make([]byte, 1)); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("server read: %v, want ErrUntrusted", err)
		}
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := client.Read(make([]byte, 1)); err == nil {
			t.Fatal("connection still open")
		}
	})
	t.Run("silent client times out", func(t *testing.T) {
		_, server := tcpPair(t, Config{Trusted: trusted.Trusted, Timeout: 50 * time.Millisecond})
		// No header and no bytes within the timeout: the header wait
		// ends, and the connection carries on as a direct one.
		if got := server.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.1" {
			t.Fatalf("RemoteAddr = %s", got)
		}
	})
}

// pipeListener hands out the server ends of net.Pipe connections that
// claim to come from the trusted load balancer.
type pipeListener struct{ conns chan net.Conn }

func (l pipeListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l pipeListener) Close() error { return nil }
func (l pipeListener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:4001"))
}

type lbConn struct{ net.Conn }

func (lbConn) RemoteAddr() net.Addr            { return net.TCPAddrFromAddrPort(lb) }
func (lbConn) SetReadDeadline(time.Time) error { return nil } // net.Pipe deadlines work, but the input is all there

// throughListener writes input from the client end and returns what the
// listener's connection reports: its RemoteAddr, everything it reads, and
// the read error.
func throughListener(input []byte) (net.Addr, []byte, error) {
	conns := make(chan net.Conn, 1)
	l := NewListener(pipeListener{conns}, trusted)
	client, server := net.Pipe()
	conns <- lbConn{server}
	c, _ := l.Accept()
	go func() {
		client.Write(input)
		client.Close()
	}()
	addr := c.RemoteAddr()
	got, err := io.ReadAll(c)
	c.Close()
	return addr, got, err
}

// FuzzListener feeds arbitrary bytes through the listener from the trusted
// balancer: no panic, no hang, and what the connection reads is what
// followed a header. Goroutine scheduling makes coverage noisy, so run it
// with -fuzzminimizetime=2s or the minimizer stalls for a minute per find.
func FuzzListener(f *testing.F) {
	f.Add([]byte("\x13/multistream/1.0.0\n"))
	f.Add(append(header(f, 1, "203.0.113.7:5555", "192.0.2.1:4001"), "payload"...))
	f.Add(append(header(f, 2, "[2001:db8::7]:5555", "[2001:db8::1]:4001"), "payload"...))
	f.Add(v2Local(f))
	f.Add(v2UDP(f))
	f.Add([]byte("PROXY TCP4 1.2.3.4\r\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		addr, got, err := throughListenerWatched(t, input)
		if err != nil {
			return
		}
		// What the connection reads is what followed the header.
		if !bytes.HasSuffix(input, got) {
			t.Fatalf("read %q, not a suffix of the input", got)
		}
		if addr.String() != lb.String() && !hasSig(input) {
			t.Fatalf("client %v without a header", addr)
		}
	})
}

func hasSig(b []byte) bool { return bytes.HasPrefix(b, pp.SIGV1) || bytes.HasPrefix(b, pp.SIGV2) }

// FuzzHeaderRoundTrip formats a header for a random client and checks
// the listener reports that client and passes the payload on intact.
func FuzzHeaderRoundTrip(f *testing.F) {
	f.Add(false, []byte{203, 0, 113, 7}, uint16(5555), []byte("hello"))
	f.Add(true, []byte{203, 0, 113, 7}, uint16(1), []byte{})
	f.Add(true, netip.MustParseAddr("2001:db8::7").AsSlice(), uint16(65535), []byte("\x13/multistream/1.0.0\n"))
	f.Fuzz(func(t *testing.T, v2 bool, ip []byte, port uint16, payload []byte) {
		a, ok := netip.AddrFromSlice(ip)
		if !ok || a.Is4In6() || a.Zone() != "" {
			return
		}
		client := netip.AddrPortFrom(a, port)
		dst := netip.MustParseAddrPort("192.0.2.1:4001")
		if a.Is6() {
			dst = netip.MustParseAddrPort("[2001:db8::1]:4001")
		}
		v := byte(1)
		if v2 {
			v = 2
		}
		h := header(t, v, client.String(), dst.String())
		addr, got, err := throughListener(append(h, payload...))
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if addr.(*net.TCPAddr).AddrPort() != client {
			t.Fatalf("client %v, want %v", addr, client)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("payload %q, want %q", got, payload)
		}
	})
}

// throughListenerWatched is throughListener that fails instead of hanging.
func throughListenerWatched(t *testing.T, input []byte) (net.Addr, []byte, error) {
	type result struct {
		addr net.Addr
		got  []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		a, g, e := throughListener(input)
		ch <- result{a, g, e}
	}()
	select {
	case r := <-ch:
		return r.addr, r.got, r.err
	case <-time.After(5 * time.Second):
		t.Fatalf("hung on %q", input)
		return nil, nil, nil
	}
}
