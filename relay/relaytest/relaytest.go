package relaytest

import (
	"context"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
)

// Start builds a relay from cfg and serves it until the test ends, then
// stops serving and closes it. A nil cfg.Key is a fresh key; an empty
// cfg.Listen is TCP and QUIC on 127.0.0.1, on ports the kernel picks.
func Start(t testing.TB, cfg relay.Config) *relay.Relay {
	t.Helper()
	if cfg.Key == nil {
		key, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Key = key
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = []ma.Multiaddr{
			ma.StringCast("/ip4/127.0.0.1/tcp/0"),
			ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1"),
		}
	}
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done; r.Close() })
	return r
}
