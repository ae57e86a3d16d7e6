package transport_test

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/transport"
	"github.com/relayd/relayd/p2p/transport/tcp"
)

func TestLabel(t *testing.T) {
	for addr, want := range map[string]string{
		"/ip4/1.2.3.4/tcp/1":                      "tcp",
		"/dns4/a.example/tcp/1":                   "tcp",
		"/ip4/1.2.3.4/udp/1/quic-v1":              "quic",
		"/ip4/1.2.3.4/tcp/1/ws":                   "ws",
		"/ip4/1.2.3.4/tcp/1/ws/http-path/x":       "ws",
		"/ip4/1.2.3.4/tcp/1/wss":                  "wss",
		"/ip4/1.2.3.4/tcp/1/tls/ws":               "wss",
		"/ip4/1.2.3.4/tcp/1/tls/sni/a.example/ws": "wss",
		"/ip4/1.2.3.4/udp/1/webrtc-direct":        "",
		"/ip4/1.2.3.4/tcp/1/p2p-circuit":          "tcp",
	} {
		if got := transport.Label(ma.StringCast(addr)); got != want {
			t.Errorf("Label(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestTCPHandles(t *testing.T) {
	for addr, want := range map[string]bool{
		"/ip4/1.2.3.4/tcp/1":         true,
		"/ip6/::1/tcp/1":             true,
		"/dns/a.example/tcp/1":       true,
		"/ip4/1.2.3.4/tcp/1/ws":      false,
		"/ip4/1.2.3.4/udp/1/quic-v1": false,
		"/ip4/1.2.3.4/tcp/1/tls":     false,
	} {
		if got := tcp.New().Handles(ma.StringCast(addr)); got != want {
			t.Errorf("Handles(%s) = %v, want %v", addr, got, want)
		}
	}
}
