// Package tcp is the TCP transport: /ip4|/ip6/<ip>/tcp/<port> (and /dns*
// for dialing). It yields raw connections; the host runs the libp2p
// upgrade on them. Listeners use Go's default TCP keep-alive (15 s), which
// is how the relay finds dead peers without a yamux ping per connection.
//
// NewReusing is for clients that listen (hole punching): listeners set
// SO_REUSEADDR and SO_REUSEPORT and dials leave from the listening port, so
// the NAT mapping peers observe for our dials is also our listener's, and a
// TCP simultaneous open can be dialed from it. The relay uses New.
package tcp
