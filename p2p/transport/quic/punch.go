package quic

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	quicgo "github.com/quic-go/quic-go"
)

// listenSocket is a listener's UDP socket, which Punch sends from and
// DialFromListener dials from.
type listenSocket struct {
	network string
	qt      *quicgo.Transport
}

func (t *Transport) addListenSocket(network string, qt *quicgo.Transport) (remove func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.listens = append(t.listens, listenSocket{network, qt})
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.listens = slices.DeleteFunc(t.listens, func(s listenSocket) bool { return s.qt == qt })
	}
}

// listenSocketFor is the oldest listening socket of network that can reach
// ip: a loopback-bound socket only reaches loopback, and loopback is only
// reached from a loopback or wildcard socket.
func (t *Transport) listenSocketFor(network string, ip net.IP) *quicgo.Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.listens {
		if s.network != network {
			continue
		}
		local := s.qt.Conn.LocalAddr().(*net.UDPAddr).IP
		if local.IsLoopback() != ip.IsLoopback() && !local.IsUnspecified() {
			continue
		}
		return s.qt
	}
	return nil
}

// Punch sends datagrams of random bytes from a listening socket to addr
// until ctx is done: DCUtR's QUIC punch, which opens our NAT's mapping for
// addr so that the peer's dial (it is the QUIC client) gets in. Intervals
// follow go-libp2p: 10 ms plus a random part growing from 10 ms to 200 ms.
// It returns ctx's error, or an error at once if no listener fits.
func (t *Transport) Punch(ctx context.Context, addr ma.Multiaddr) error {
	if !t.Handles(addr) {
		return fmt.Errorf("quic: cannot punch %s", addr)
	}
	network, raddr, err := udpAddr(addr)
	if err != nil {
		return err
	}
	qt := t.listenSocketFor(network, raddr.IP)
	if qt == nil {
		return fmt.Errorf("quic: no listening %s socket to punch %s from", network, addr)
	}
	payload := make([]byte, 64)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		rand.Read(payload)
		if _, err := qt.WriteTo(payload, raddr); err != nil {
			return fmt.Errorf("quic: punch %s: %w", addr, err)
		}
		timer.Reset(punchInterval(i))
	}
}

func punchInterval(i int) time.Duration {
	spread := min(10*(i+1)*(i+1), 200)
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(spread)))
	return 10*time.Millisecond + time.Duration(n.Int64())*time.Millisecond
}
