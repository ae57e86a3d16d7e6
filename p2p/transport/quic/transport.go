package quic

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	quicgo "github.com/quic-go/quic-go"

	"github.com/relayd/relayd/p2p/identity"
	p2ptls "github.com/relayd/relayd/p2p/tls"
	"github.com/relayd/relayd/p2p/transport"
)

const (
	defaultIdleTimeout     = time.Minute
	defaultKeepAlivePeriod = 15 * time.Second
	maxIncomingStreams     = 256
)

// Config configures the QUIC transport. Zero values mean the defaults
// written on each field.
type Config struct {
	// Key is the host's identity key. Required.
	Key ed25519.PrivateKey
	// IdleTimeout closes a connection with no traffic for this long (the
	// peer's own value wins if smaller). Default 60 s.
	IdleTimeout time.Duration
	// KeepAlivePeriod is how often dialed connections ping. Listeners never
	// do. Default 15 s.
	KeepAlivePeriod time.Duration
	// DialFromListener makes dials leave from a listening socket of the
	// same family when there is one, for clients that listen: the NAT
	// mapping peers observe for our dials is then our listener's, and a
	// DCUtR punch (Punch, then the peer's dial) reaches it. Default off:
	// dials use a socket of their own.
	DialFromListener bool
}

func (c Config) withDefaults() Config {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = defaultIdleTimeout
	}
	if c.KeepAlivePeriod <= 0 {
		c.KeepAlivePeriod = defaultKeepAlivePeriod
	}
	return c
}

// Transport is the QUIC transport. It owns the UDP sockets of its
// listeners and of its dials; Close releases them.
type Transport struct {
	cfg      Config
	ident    *p2ptls.Identity
	resetKey quicgo.StatelessResetKey

	mu      sync.Mutex
	sockets []*quicgo.Transport
	dialers map[string]*quicgo.Transport // by local bind: "udp4", "udp4-loopback", ...
	listens []listenSocket               // sockets of live listeners, oldest first
	closed  bool
}

var _ transport.Transport = (*Transport)(nil)

// New builds the transport; it generates the TLS certificate for cfg.Key.
func New(cfg Config) (*Transport, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("quic: Config.Key must be an Ed25519 private key")
	}
	ident, err := p2ptls.NewIdentity(cfg.Key)
	if err != nil {
		return nil, err
	}
	return &Transport{
		cfg:      cfg.withDefaults(),
		ident:    ident,
		resetKey: statelessResetKey(cfg.Key),
		dialers:  make(map[string]*quicgo.Transport),
	}, nil
}

// statelessResetKey is a one-way function of the host key, so it survives
// restarts without being stored.
func statelessResetKey(key ed25519.PrivateKey) quicgo.StatelessResetKey {
	h := sha256.New()
	h.Write([]byte("relayd quic stateless reset key\x00"))
	h.Write(key.Seed())
	var k quicgo.StatelessResetKey
	copy(k[:], h.Sum(nil))
	return k
}

// Handles accepts exactly /ip4|/ip6/<ip>/udp/<port>/quic-v1.
func (*Transport) Handles(addr ma.Multiaddr) bool {
	if len(addr) != 3 || addr[1].Code() != ma.P_UDP || addr[2].Code() != ma.P_QUIC_V1 {
		return false
	}
	c := addr[0].Code()
	return c == ma.P_IP4 || c == ma.P_IP6
}

// Close closes every socket, and with them every QUIC connection.
func (t *Transport) Close() error {
	t.mu.Lock()
	socks := t.sockets
	t.sockets, t.dialers, t.closed = nil, nil, true
	t.mu.Unlock()
	var errs []error
	for _, s := range socks {
		errs = append(errs, s.Close(), s.Conn.Close())
	}
	return errors.Join(errs...)
}

// newSocket binds a UDP socket and wraps it in a quic-go Transport that t
// will close.
func (t *Transport) newSocket(network string, laddr *net.UDPAddr, connContext func(context.Context, *quicgo.ClientInfo) (context.Context, error)) (*quicgo.Transport, error) {
	udp, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	qt := &quicgo.Transport{Conn: udp, StatelessResetKey: &t.resetKey, ConnContext: connContext}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		udp.Close()
		return nil, net.ErrClosed
	}
	t.sockets = append(t.sockets, qt)
	return qt, nil
}

// udpAddr splits a quic-v1 multiaddr into its UDP network and address.
func udpAddr(addr ma.Multiaddr) (string, *net.UDPAddr, error) {
	na, err := manet.ToNetAddr(addr[:2])
	if err != nil {
		return "", nil, err
	}
	ua, ok := na.(*net.UDPAddr)
	if !ok {
		return "", nil, fmt.Errorf("%s is not a UDP address", addr)
	}
	network := "udp4"
	if addr[0].Code() == ma.P_IP6 {
		network = "udp6"
	}
	return network, ua, nil
}

// quicMultiaddr is a UDP net.Addr as /ip*/<ip>/udp/<port>/quic-v1.
func quicMultiaddr(a net.Addr) (ma.Multiaddr, error) {
	m, err := manet.FromNetAddr(a)
	if err != nil {
		return nil, err
	}
	return append(m, quicV1...), nil
}

var quicV1 = ma.StringCast("/quic-v1")

// Dial connects to addr and checks the server is remote (any peer if
// remote is empty).
func (t *Transport) Dial(ctx context.Context, addr ma.Multiaddr, remote identity.PeerID) (transport.Conn, error) {
	if !t.Handles(addr) {
		return nil, fmt.Errorf("quic: cannot dial %s", addr)
	}
	network, raddr, err := udpAddr(addr)
	if err != nil {
		return nil, err
	}
	qt := t.listenSocketFor(network, raddr.IP)
	if !t.cfg.DialFromListener {
		qt = nil
	}
	if qt == nil {
		qt, err = t.dialSocket(network, raddr.IP.IsLoopback())
	}
	if err != nil {
		return nil, fmt.Errorf("quic: dial socket: %w", err)
	}
	start := time.Now()
	tlsConf, pk := t.ident.ConfigForPeer(remote)
	qc, err := qt.Dial(ctx, raddr, tlsConf, t.dialConfig())
	if err != nil {
		return nil, fmt.Errorf("quic dial: %w", err)
	}
	c, err := newConn(qc, pk.Get(), start)
	if err != nil {
		qc.CloseWithError(0, "")
		return nil, err
	}
	return c, nil
}

// dialSocket returns the shared socket for dials from network. Dials to
// loopback bind to loopback, so tests never listen on every interface.
func (t *Transport) dialSocket(network string, loopback bool) (*quicgo.Transport, error) {
	key := network
	var laddr *net.UDPAddr
	if loopback {
		key += "-loopback"
		laddr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
		if network == "udp6" {
			laddr = &net.UDPAddr{IP: net.IPv6loopback}
		}
	}
	t.mu.Lock()
	qt, closed := t.dialers[key], t.closed
	t.mu.Unlock()
	if closed {
		return nil, net.ErrClosed
	}
	if qt != nil {
		return qt, nil
	}
	qt, err := t.newSocket(network, laddr, nil)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		// Close ran after newSocket registered the socket: Close has
		// closed it, and dialers is gone.
		return nil, net.ErrClosed
	}
	if prev := t.dialers[key]; prev != nil {
		return prev, nil // a concurrent dial won; ours is closed with t
	}
	t.dialers[key] = qt
	return qt, nil
}

func (t *Transport) dialConfig() *quicgo.Config {
	c := baseConfig(t.cfg.IdleTimeout)
	c.KeepAlivePeriod = t.cfg.KeepAlivePeriod
	return c
}

func baseConfig(idle time.Duration) *quicgo.Config {
	return &quicgo.Config{
		Versions:                       []quicgo.Version{quicgo.Version1},
		MaxIdleTimeout:                 idle,
		MaxIncomingStreams:             maxIncomingStreams,
		MaxIncomingUniStreams:          -1,
		InitialStreamReceiveWindow:     256 << 10,
		MaxStreamReceiveWindow:         1 << 20,
		InitialConnectionReceiveWindow: 512 << 10,
		MaxConnectionReceiveWindow:     4 << 20,
	}
}
