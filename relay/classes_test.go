package relay_test

import (
	"testing"
	"time"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/circuit/wire"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/limiter"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/identity"
	"github.com/relayd/relayd/relay"
)

// TestNamedClassLimit: a peer in a named class with its own duration and
// data caps (as relayd's classes key maps them: only the given overrides
// set) gets exactly those in its CONNECT reply, while a peer in no class
// gets the default class's 120 s / 128 KiB.
func TestNamedClassLimit(t *testing.T) {
	leakcheck.Check(t)
	partner := newKey(t)
	r, addr := newTestRelay(t, relay.Config{Limits: limiter.Config{
		Classes: []limiter.Class{{
			Name:   "partners",
			Peers:  []identity.PeerID{identity.PeerIDOf(partner)},
			Limits: limiter.ClassLimits{LimitDuration: 5 * time.Second, LimitData: 1 << 20},
		}},
	}})
	target := echoTarget(t, r, addr)

	p, err := host.New(host.Config{Key: partner})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if _, err := p.Dial(ctxT(t), addr, r.ID()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client *host.Host
		want   wire.Limit
	}{
		{"named class", p, wire.Limit{Duration: 5, Data: 1 << 20}},
		{"default class", newClient(t, r, addr), wire.Limit{Duration: 120, Data: 131072}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, lim, err := circuit.Connect(ctxT(t), tt.client, r.ID(), target.ID())
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			if lim == nil || *lim != tt.want {
				t.Fatalf("Limit %+v, want %+v", lim, tt.want)
			}
		})
	}
}
