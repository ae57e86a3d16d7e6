package probe

import (
	"context"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/relay"
	"github.com/relayd/relayd/relay/relaytest"
)

func startRelay(t *testing.T) *relay.Relay {
	t.Helper()
	return relaytest.Start(t, relay.Config{})
}

func loopbackPeer(r *relay.Relay, relayAddrs ...ma.Multiaddr) PeerConfig {
	return PeerConfig{
		Relay:   relayAddrs,
		RelayID: r.ID(),
		Listen:  []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0"), ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1")},
	}
}

// TestRunHolePunch: two probe peers on loopback meet through an in-process
// relay and reach a direct connection with DCUtR, for each transport the
// relay was reached on.
func TestRunHolePunch(t *testing.T) {
	leakcheck.Check(t)
	r := startRelay(t)
	for i, name := range []string{"tcp", "quic"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep := Run(ctx, Options{Peer: loopbackPeer(r, r.Addrs()[i]), HolePunch: true})
			if !rep.OK {
				t.Fatalf("probe failed: %s (%+v)", rep.Error, rep.HolePunch)
			}
			hp := rep.HolePunch
			if !hp.Direct || hp.Attempts != 1 || !hp.DirectEcho || hp.Transport == "" {
				t.Errorf("hole punch %+v", hp)
			}
			if rep.Limit == nil || rep.Limit.DurationSeconds != 120 || rep.Limit.DataBytes != 131072 {
				t.Errorf("limit %+v, want the relay's defaults", rep.Limit)
			}
			if len(rep.Observed) != 1 {
				t.Errorf("observed %v, want the relay's view of us", rep.Observed)
			}
		})
	}
}
