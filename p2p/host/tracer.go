package host

import "time"

// Tracer receives connection events; metrics implement it. Methods must be
// cheap and must not block.
type Tracer interface {
	// ConnOpened follows a completed upgrade.
	ConnOpened(transport string, inbound bool, handshake time.Duration)
	// ConnClosed follows the end of an upgraded connection.
	ConnClosed(transport string, inbound bool)
	// ConnRefused follows a raw connection dropped before its handshake,
	// with the reason label: "handshake_limit" (any transport);
	// WebSocket listeners also report "not_websocket" (an HTTP request
	// that is no upgrade), "bad_path" and "accept_timeout".
	ConnRefused(transport, reason string)
	// HandshakeFailed follows a failed upgrade, with the stage that
	// failed: "security_negotiation", "noise", "muxer_negotiation",
	// "muxer", "timeout" (TCP, WebSocket); "tls" or "timeout" (QUIC);
	// "websocket" (a broken HTTP upgrade).
	HandshakeFailed(transport, stage string)
	// ConnParked follows a TCP connection's yamux session shutting down
	// while idle (parked true, see Config.ParkIdle) and the end of that:
	// a new session, or the connection closing (parked false).
	ConnParked(parked bool)
}

// NopTracer ignores every event; it is the default.
type NopTracer struct{}

func (NopTracer) ConnOpened(string, bool, time.Duration) {}
func (NopTracer) ConnClosed(string, bool)                {}
func (NopTracer) ConnRefused(string, string)             {}
func (NopTracer) HandshakeFailed(string, string)         {}
func (NopTracer) ConnParked(bool)                        {}
