// Package proxyproto reads the PROXY protocol header (HAProxy's v1 text and
// v2 binary forms) that a load balancer puts in front of a TCP connection,
// so the relay sees the client's real address: per-IP quotas and rates
// count it, and identify reports it as observedAddr.
//
// It is opt-in and trusted by source: only a connection whose socket peer
// is in Config.Trusted may carry a header (it may also carry none, so a
// health check or an internal peer can connect directly). A header from
// any other source is ErrUntrusted and the caller closes the connection:
// otherwise any client could claim any address.
//
// Parsing is github.com/pires/go-proxyproto's (v0.11.0; later releases need
// a newer Go); this package decides trust, bounds the wait for the header
// (Config.Timeout, default 5 s) and hands back a connection whose reads
// start after the header. Accept does this for one connection (the host
// calls it on TCP connections before the libp2p upgrade); NewListener wraps
// a net.Listener for servers that read RemoteAddr in a per-connection
// goroutine, such as net/http under WebSocket, and resolves lazily there,
// never in Accept, so one slow client cannot stall the accept loop.
package proxyproto
