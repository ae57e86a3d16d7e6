package relay_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/mss"
	"github.com/relayd/relayd/p2p/pbio"
	"github.com/relayd/relayd/relay"
)

// rawDial opens a plain TCP connection to the relay.
func rawDial(t *testing.T, addr ma.Multiaddr) net.Conn {
	t.Helper()
	na, err := manet.ToNetAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", na.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed asserts the relay closes c within d (reading and discarding).
func waitClosed(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("relay did not close the connection within %v", d)
	}
}

func TestBadConnectionsAreClosedAndOthersServed(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{HandshakeTimeout: time.Second})
	tests := []struct {
		name string
		send func(c net.Conn)
	}{
		{"garbage before multistream", func(c net.Conn) { c.Write([]byte("GET / HTTP/1.1\r\n\r\n")) }},
		{"oversize multistream message", func(c net.Conn) { c.Write([]byte{0xff, 0xff, 0x03}) }},
		{"broken noise handshake", func(c net.Conn) {
			b := mss.AppendMessage(nil, mss.ID)
			b = mss.AppendMessage(b, "/noise")
			c.Write(b)
			c.Write([]byte{0x00, 0x05, 1, 2, 3, 4, 5})
		}},
		{"stalled peer", func(c net.Conn) {}},
		{"stalled mid-noise", func(c net.Conn) {
			b := mss.AppendMessage(nil, mss.ID)
			c.Write(mss.AppendMessage(b, "/noise"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rawDial(t, addr)
			tt.send(c)
			// Meanwhile a good peer is served.
			a := echoTarget(t, r, addr)
			b := newClient(t, r, addr)
			st, _, err := circuit.Connect(ctxT(t), b, r.ID(), a.ID())
			if err != nil {
				t.Fatal(err)
			}
			echo(t, st, 1024)
			waitClosed(t, c, 5*time.Second)
		})
	}
}

func TestBadHopMessages(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{})
	c := newClient(t, r, addr)
	tests := []struct {
		name string
		send []byte
		want wire.Status
	}{
		{"oversize", pbio.AppendDelimited(nil, make([]byte, wire.MaxMessageSize+1)), wire.StatusMalformedMessage},
		{"garbage protobuf", pbio.AppendDelimited(nil, []byte{0xff, 0xff, 0xff}), wire.StatusMalformedMessage},
		{"status as request", pbio.AppendDelimited(nil, (&wire.HopMessage{Type: wire.HopStatus, Status: wire.StatusOK}).Append(nil)), wire.StatusMalformedMessage},
		{"connect without peer", pbio.AppendDelimited(nil, (&wire.HopMessage{Type: wire.HopConnect}).Append(nil)), wire.StatusMalformedMessage},
		{"connect bad peer id", pbio.AppendDelimited(nil, (&wire.HopMessage{Type: wire.HopConnect, Peer: &wire.Peer{ID: []byte{1, 2, 3}}}).Append(nil)), wire.StatusMalformedMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := c.NewStream(ctxT(t), r.ID(), wire.ProtoHop)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			st.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := st.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			b, err := pbio.ReadDelimited(st, wire.MaxMessageSize)
			if err != nil {
				t.Fatalf("no status reply: %v", err)
			}
			m, err := wire.ParseHop(b)
			if err != nil || m.Type != wire.HopStatus || m.Status != tt.want {
				t.Fatalf("reply %+v, %v; want status %v", m, err, tt.want)
			}
		})
	}
}

func TestTruncatedHopMessageTimesOut(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{})
	c := newClient(t, r, addr)
	st, err := c.NewStream(ctxT(t), r.ID(), wire.ProtoHop)
	if err != nil {
		t.Fatal(err)
	}
	// Half a message, then our side closes: the relay sees a truncated
	// message and answers MALFORMED_MESSAGE.
	st.Write([]byte{0x05, 0x08})
	st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := pbio.ReadDelimited(st, wire.MaxMessageSize)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	m, _ := wire.ParseHop(b)
	if m.Status != wire.StatusMalformedMessage {
		t.Fatalf("status %v", m.Status)
	}
}

func TestIdentifyAndPing(t *testing.T) {
	leakcheck.Check(t)
	r, addr := newTestRelay(t, relay.Config{Version: "1.2.3"})
	c := newClient(t, r, addr)
	st, err := c.NewStream(ctxT(t), r.ID(), host.IdentifyID)
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := pbio.ReadDelimited(st, 8<<10)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	id := parseIdentify(t, b)
	if id.agent != "relayd/1.2.3" {
		t.Errorf("agent %q", id.agent)
	}
	if !contains(id.protocols, wire.ProtoHop) || !contains(id.protocols, host.PingID) {
		t.Errorf("protocols %v", id.protocols)
	}
	local := c.ConnsToPeer(r.ID())[0].LocalMultiaddr()
	if !id.observed.Equal(local) {
		t.Errorf("observedAddr %v, want our local address %v", id.observed, local)
	}
	if len(id.listen) == 0 || !id.listen[0].Equal(addr) {
		t.Errorf("listenAddrs %v, want %v", id.listen, addr)
	}

	ps, err := c.NewStream(ctxT(t), r.ID(), host.PingID)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	ps.SetDeadline(time.Now().Add(10 * time.Second))
	for range 3 {
		ping := make([]byte, 32)
		copy(ping, "relayd ping payload of 32 bytes!")
		ps.Write(ping)
		got := make([]byte, 32)
		if _, err := io.ReadFull(ps, got); err != nil || string(got) != string(ping) {
			t.Fatalf("ping echo %q, %v", got, err)
		}
	}
	_ = context.Background
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
