package ws

import (
	"crypto/tls"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

type tlsConfigWith []string

func (p tlsConfigWith) config() *tls.Config {
	return &tls.Config{NextProtos: p, Certificates: []tls.Certificate{{}}}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		addr   string
		ok     bool
		secure bool
		sni    string
		path   string
	}{
		{"/ip4/1.2.3.4/tcp/80/ws", true, false, "", "/"},
		{"/ip6/::1/tcp/80/wss", true, true, "", "/"},
		{"/dns4/a.example/tcp/443/tls/ws", true, true, "", "/"},
		{"/ip4/1.2.3.4/tcp/443/tls/sni/a.example/ws", true, true, "a.example", "/"},
		{"/dns/a.example/tcp/443/wss/http-path/p2p%2Fws", true, true, "", "/p2p/ws"},
		{"/ip4/1.2.3.4/tcp/80", false, false, "", ""},
		{"/ip4/1.2.3.4/ws", false, false, "", ""},
		{"/ip4/1.2.3.4/udp/80/ws", false, false, "", ""},
		{"/ip4/1.2.3.4/tcp/80/ws/p2p-circuit", false, false, "", ""},
		{"/ip4/1.2.3.4/tcp/80/tls/http", false, false, "", ""},
		{"/ip4/1.2.3.4/udp/1/quic-v1", false, false, "", ""},
	}
	for _, tt := range tests {
		a, err := parseAddr(ma.StringCast(tt.addr))
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v", tt.addr, err)
			continue
		}
		if tt.ok && (a.secure != tt.secure || a.sni != tt.sni || a.path != tt.path) {
			t.Errorf("%s: got %+v", tt.addr, a)
		}
	}
}

func TestAnnounceForms(t *testing.T) {
	in := []ma.Multiaddr{
		ma.StringCast("/dns4/relay.example/tcp/443/wss"),
		ma.StringCast("/ip4/1.2.3.4/tcp/443/wss"),
		ma.StringCast("/ip4/1.2.3.4/tcp/4001"),
		ma.StringCast("/ip4/1.2.3.4/tcp/443/tls/sni/other.example/ws"),
		ma.StringCast("/dns/p.example/tcp/443/wss/http-path/x%2Fy"),
		ma.StringCast("/dns4/relay.example/tcp/443/tls/sni/relay.example/ws"), // already there
	}
	want := []string{
		"/dns4/relay.example/tcp/443/wss",
		"/ip4/1.2.3.4/tcp/443/wss",
		"/ip4/1.2.3.4/tcp/4001",
		"/ip4/1.2.3.4/tcp/443/tls/sni/other.example/ws",
		"/dns/p.example/tcp/443/wss/http-path/x%2Fy",
		"/dns4/relay.example/tcp/443/tls/sni/relay.example/ws",
		"/dns/p.example/tcp/443/tls/sni/p.example/ws/http-path/x%2Fy",
	}
	var got []string
	for _, a := range AnnounceForms(in) {
		got = append(got, a.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
