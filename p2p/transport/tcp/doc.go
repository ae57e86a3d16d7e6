// Package tcp is the TCP transport: /ip4|/ip6/<ip>/tcp/<port> (and /dns*
// for dialing). It yields raw connections; the host runs the libp2p
// upgrade on them. Listeners use Go's default TCP keep-alive (15 s), which
// is how the relay finds dead peers without a yamux ping per connection.
package tcp
