package relay_test

import (
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/circuit"
	"github.com/relayd/relayd/internal/leakcheck"
	"github.com/relayd/relayd/p2p/host"
	"github.com/relayd/relayd/p2p/pbio"
	"github.com/relayd/relayd/relay"
)

// TestAnnounceTLSNames: names given after start are announced on every
// /wss port, in the /tls/ws and /wss forms, beside the configured
// announce addresses, in the next reservation; wildcards are not; a later
// call replaces the names.
func TestAnnounceTLSNames(t *testing.T) {
	leakcheck.Check(t)
	announce := []ma.Multiaddr{ma.StringCast("/dns4/other.example.com/tcp/4001")}
	r, addr := newTestRelay(t, relay.Config{Announce: announce, Listen: []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/tcp/0"), ma.StringCast("/ip4/127.0.0.1/tcp/0/wss"),
	}})
	wss := r.Host().ListenAddrs()[1]
	port, _ := wss.ValueForProtocol(ma.P_TCP)
	c := newClient(t, r, addr)

	identifyAddrs(t, c, r) // caches the identify message before the names
	r.AnnounceTLSNames([]string{"relay.example.com", "*.example.com"})
	got := reserveAddrs(t, c, r)
	p2p := "/p2p/" + r.ID().String()
	want := []string{
		"/dns4/other.example.com/tcp/4001" + p2p,
		"/dns4/relay.example.com/tcp/" + port + "/tls/ws" + p2p,
		"/dns4/relay.example.com/tcp/" + port + "/wss" + p2p,
	}
	if got != strings.Join(want, " ") {
		t.Errorf("reservation addrs\n%s\nwant\n%s", got, strings.Join(want, " "))
	}

	if got := identifyAddrs(t, c, r); got != strings.ReplaceAll(strings.Join(want, " "), p2p, "") {
		t.Errorf("identify listenAddrs\n%s\nwant\n%s", got, strings.ReplaceAll(strings.Join(want, " "), p2p, ""))
	}

	r.AnnounceTLSNames(nil)
	if got := reserveAddrs(t, c, r); got != want[0] {
		t.Errorf("after AnnounceTLSNames(nil): %s, want %s", got, want[0])
	}
}

func reserveAddrs(t *testing.T, c *host.Host, r *relay.Relay) string {
	t.Helper()
	info, err := circuit.Reserve(ctxT(t), c, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range info.Addrs {
		out = append(out, a.String())
	}
	return strings.Join(out, " ")
}

// identifyAddrs are the listenAddrs of a fresh identify response.
func identifyAddrs(t *testing.T, c *host.Host, r *relay.Relay) string {
	t.Helper()
	st, err := c.NewStream(ctxT(t), r.ID(), host.IdentifyID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := pbio.ReadDelimited(st, 8<<10)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range parseIdentify(t, b).listen {
		out = append(out, a.String())
	}
	return strings.Join(out, " ")
}
