package ws

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// wsAddr is a parsed WebSocket multiaddr.
type wsAddr struct {
	tcp    ma.Multiaddr // <ip|dns>/tcp/<port>
	secure bool
	sni    string // from /tls/sni/<host>/ws; "" if absent
	path   string // URL path, always starting with "/"
}

var errNotWebSocket = errors.New("not a WebSocket multiaddr")

// parseAddr accepts <ip4|ip6|dns|dns4|dns6>/tcp/<port> followed by /ws,
// /wss, /tls/ws or /tls/sni/<host>/ws, then optionally /http-path/<p>.
func parseAddr(addr ma.Multiaddr) (wsAddr, error) {
	var a wsAddr
	if len(addr) < 3 || addr[1].Code() != ma.P_TCP {
		return a, errNotWebSocket
	}
	switch addr[0].Code() {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
	default:
		return a, errNotWebSocket
	}
	a.tcp, a.path = addr[:2], "/"
	rest := addr[2:]
	if n := len(rest); n > 0 && rest[n-1].Code() == ma.P_HTTP_PATH {
		a.path = "/" + string(rest[n-1].RawValue())
		rest = rest[:n-1]
	}
	if err := a.parseSuffix(rest); err != nil {
		return wsAddr{}, err
	}
	return a, nil
}

func (a *wsAddr) parseSuffix(rest ma.Multiaddr) error {
	codes := make([]int, len(rest))
	for i, c := range rest {
		codes[i] = c.Code()
	}
	switch {
	case len(codes) == 1 && codes[0] == ma.P_WS:
	case len(codes) == 1 && codes[0] == ma.P_WSS:
		a.secure = true
	case len(codes) == 2 && codes[0] == ma.P_TLS && codes[1] == ma.P_WS:
		a.secure = true
	case len(codes) == 3 && codes[0] == ma.P_TLS && codes[1] == ma.P_SNI && codes[2] == ma.P_WS:
		a.secure, a.sni = true, rest[1].Value()
	default:
		return errNotWebSocket
	}
	return nil
}

// hostPort is the URL host: the SNI name if given, else the address's
// host, with the port.
func (a wsAddr) hostPort() (string, error) {
	_, hp, err := manet.DialArgs(a.tcp)
	if err != nil {
		return "", err
	}
	if a.sni == "" {
		return hp, nil
	}
	_, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(a.sni, port), nil
}

func (a wsAddr) scheme() string {
	if a.secure {
		return "wss"
	}
	return "ws"
}

// suffix is what follows <ip>/tcp/<port> in the canonical form.
func suffix(secure bool, path string) ma.Multiaddr {
	out := ma.StringCast("/ws")
	if secure {
		out = ma.StringCast("/wss")
	}
	if path != "/" && path != "" {
		c, err := ma.NewComponent("http-path", escapePath(path[1:]))
		if err == nil {
			out = append(out, *c)
		}
	}
	return out
}

// escapePath is the string form of an http-path value (the multiaddr
// library query-unescapes it back to the raw path).
func escapePath(p string) string { return url.QueryEscape(p) }

// withSuffix is tcp followed by the canonical WebSocket suffix.
func withSuffix(tcp ma.Multiaddr, secure bool, path string) ma.Multiaddr {
	out := append(ma.Multiaddr(nil), tcp...)
	return append(out, suffix(secure, path)...)
}

func checkPath(p string) error {
	if p == "" || p[0] != '/' {
		return fmt.Errorf("WebSocket path %q must start with /", p)
	}
	return nil
}
