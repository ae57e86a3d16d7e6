package ws

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"

	"github.com/gorilla/websocket"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/p2p/transport"
)

// Buffer sizes. A dialer masks what it sends, so gorilla copies each
// message through its write buffer: one Noise frame fits whole. A server
// writes straight from the caller's slice and needs only a small header
// buffer. Both come from pools, so an idle connection holds none.
//
// A server's read buffer is its own for the connection's life (gorilla
// has no pool for it), parked or not. It only ever holds frame headers
// and small messages: a read for a larger payload than the buffer goes
// straight into the caller's slice (bufio), and the Noise layer reads
// whole frames. So 512 bytes (a control frame's 125 must fit) cost no
// syscalls, where the HTTP server's 4 KiB buffer, which gorilla would
// otherwise keep, was 4 KiB of every WebSocket reservation.
const (
	clientWriteBuffer = 2 + 65535
	serverWriteBuffer = 4 << 10
	serverReadBuffer  = 512
	readBuffer        = 4 << 10
)

// Config configures the WebSocket transport. Zero values mean the
// defaults written on each field.
type Config struct {
	// Path is the URL path listeners upgrade on. Default "/".
	Path string
	// TLSConfig serves /wss listeners: it must have Certificates,
	// GetCertificate or GetConfigForClient. Required only for /wss.
	TLSConfig *tls.Config
	// ClientTLSConfig is used to dial /wss. Default: the system roots.
	ClientTLSConfig *tls.Config
}

// Transport is the WebSocket transport.
type Transport struct {
	cfg        Config
	clientPool sync.Pool
}

var _ transport.Transport = (*Transport)(nil)

// New checks cfg and returns the transport.
func New(cfg Config) (*Transport, error) {
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if err := checkPath(cfg.Path); err != nil {
		return nil, err
	}
	return &Transport{cfg: cfg}, nil
}

// Handles reports whether addr is a WebSocket multiaddr over TCP.
func (*Transport) Handles(addr ma.Multiaddr) bool {
	_, err := parseAddr(addr)
	return err == nil
}

// Close does nothing: connections and listeners own their sockets.
func (*Transport) Close() error { return nil }

// Dial opens a WebSocket to addr; the host authenticates the peer.
func (t *Transport) Dial(ctx context.Context, addr ma.Multiaddr, _ identity.PeerID) (transport.Conn, error) {
	a, err := parseAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("ws: cannot dial %s: %w", addr, err)
	}
	hp, err := a.hostPort()
	if err != nil {
		return nil, fmt.Errorf("ws dial %s: %w", addr, err)
	}
	u := url.URL{Scheme: a.scheme(), Host: hp, Path: a.path}
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d manet.Dialer
			return d.DialContext(ctx, a.tcp)
		},
		TLSClientConfig: t.clientTLS(),
		ReadBufferSize:  readBuffer,
		WriteBufferSize: clientWriteBuffer,
		WriteBufferPool: &t.clientPool,
	}
	wc, resp, err := d.DialContext(ctx, u.String(), nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("ws dial %s: %w", addr, err)
	}
	c, err := newConn(wc, nil, a.secure)
	if err != nil {
		wc.Close()
		return nil, err
	}
	return c, nil
}

// clientTLS offers HTTP/1.1 only: a WebSocket cannot run over h2 here.
func (t *Transport) clientTLS() *tls.Config {
	c := &tls.Config{}
	if t.cfg.ClientTLSConfig != nil {
		c = t.cfg.ClientTLSConfig.Clone()
	}
	c.NextProtos = []string{"http/1.1"}
	return c
}

// serverTLS is cfg.TLSConfig with http/1.1 first and h2 dropped.
func serverTLS(base *tls.Config) (*tls.Config, error) {
	if base == nil {
		return nil, errors.New("a /wss listener needs a TLS certificate")
	}
	if len(base.Certificates) == 0 && base.GetCertificate == nil && base.GetConfigForClient == nil {
		return nil, errors.New("the TLS config for /wss has no certificate")
	}
	c := base.Clone()
	protos := []string{"http/1.1"}
	for _, p := range base.NextProtos {
		if p != "http/1.1" && p != "h2" {
			protos = append(protos, p)
		}
	}
	c.NextProtos = slices.Clip(protos)
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c, nil
}

// LoadCertificate reads a PEM certificate chain and key and returns a TLS
// config serving it (through GetCertificate) for /wss listeners.
func LoadCertificate(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil },
	}, nil
}

// AnnounceForms returns addrs plus, for every /dns*/…/tcp/<port>/wss
// address, its /tls/sni/<host>/ws form, and for every /tls/sni/<host>/ws
// address its /wss form, without duplicates. Older clients only know
// /wss; clients behind SNI-routing proxies need the explicit SNI.
func AnnounceForms(addrs []ma.Multiaddr) []ma.Multiaddr {
	out := slices.Clone(addrs)
	for _, addr := range addrs {
		a, err := parseAddr(addr)
		if err != nil || !a.secure {
			continue
		}
		for _, alt := range altForms(addr, a) {
			if !ma.Contains(out, alt) {
				out = append(out, alt)
			}
		}
	}
	return out
}

func altForms(addr ma.Multiaddr, a wsAddr) []ma.Multiaddr {
	tail := suffix(false, a.path)[1:] // the /http-path, if any
	if a.sni != "" {
		return []ma.Multiaddr{append(withSuffix(a.tcp, true, "/"), tail...)}
	}
	host := ""
	switch addr[0].Code() {
	case ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
		host = addr[0].Value()
	default:
		return nil
	}
	sni, err := ma.NewComponent("sni", host)
	if err != nil {
		return nil
	}
	out := append(ma.Multiaddr(nil), a.tcp...)
	out = append(out, ma.StringCast("/tls")...)
	out = append(out, *sni)
	out = append(out, ma.StringCast("/ws")...)
	return []ma.Multiaddr{append(out, tail...)}
}
