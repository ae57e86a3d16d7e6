package relay

import (
	"strings"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/relayd/relayd/p2p/transport"
)

// AnnounceTLSNames advertises, for every name and every bound /wss
// listener, /dns4/<name>/tcp/<port>/tls/ws and its /wss form, in identify
// and in reservations, beside the other addresses. It replaces the names
// of an earlier call. Call it once a certificate for the names is served
// (tlsacme.Config.OnNames), so no client is sent to a name the relay
// cannot yet prove.
func (r *Relay) AnnounceTLSNames(names []string) {
	var extra []ma.Multiaddr
	for _, l := range r.host.ListenAddrs() {
		if transport.Label(l) != "wss" {
			continue
		}
		for _, name := range names {
			if strings.HasPrefix(name, "*.") {
				continue // a wildcard is no address to dial
			}
			extra = append(extra, dnsWSSAddrs(l, name)...)
		}
	}
	r.host.SetExtraAddrs(extra)
}

// dnsWSSAddrs turns a bound /ip4|6/<ip>/tcp/<port>/wss[/…] listen address
// into its /dns4/<name> forms: /tls/ws and /wss.
func dnsWSSAddrs(l ma.Multiaddr, name string) []ma.Multiaddr {
	dns, err := ma.NewComponent("dns4", name)
	if err != nil || len(l) < 3 {
		return nil
	}
	var tlsws, wss ma.Multiaddr
	tlsws = append(tlsws, *dns)
	wss = append(wss, *dns)
	for _, c := range l[1:] {
		switch c.Code() {
		case ma.P_WSS, ma.P_WS:
			tlsws = append(tlsws, ma.StringCast("/tls/ws")...)
			wss = append(wss, ma.StringCast("/wss")...)
		case ma.P_TLS, ma.P_SNI:
			// folded into /tls/ws and /wss above
		default:
			tlsws = append(tlsws, c)
			wss = append(wss, c)
		}
	}
	return []ma.Multiaddr{tlsws, wss}
}
