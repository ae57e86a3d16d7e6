// Package ws is the WebSocket transport: /ws, and /wss (also written
// /tls/ws or /tls/sni/<host>/ws) with TLS from a caller-given tls.Config,
// optionally followed by /http-path/<path>. A WebSocket is only a byte
// pipe here: binary messages carry the same multistream → Noise → yamux
// upgrade as TCP, which the host runs.
//
// Connections (Conn): every Write is one binary message (as go-libp2p
// sends), split only if it exceeds one Noise frame, which the Noise layer
// never writes; reads stream each message from gorilla's NextReader, so no
// connection ever holds a whole message in memory. A message may be at
// most MaxMessageSize: four Noise frames (a Noise frame is at most 65537
// bytes with its length prefix; go-libp2p sends one per message, and the
// slack covers implementations that coalesce writes). A text message is a
// protocol error: the connection closes with 1003. Close codes 1000 and
// 1005 read as io.EOF. Write buffers come from a pool; an accepted
// connection's read buffer is 512 bytes, which holds frame headers and
// small messages while larger payloads are read straight into the
// caller's slice.
//
// Read deadlines (boundary.go): gorilla cannot read on after a read
// error, so an accepted connection reads through a layer that follows the
// peer's frames and turns a deadline that passes between two messages
// into a timeout the connection survives; a deadline set in the past (a
// wake-up) that meets a frame half-way in is held over to the frame's
// end. So the host can park idle WebSocket connections as it parks TCP
// ones (transport.ReadResumer). Right after such a timeout nothing is
// buffered above the socket, and WaitReadable (transport.ReadWaiter) can
// wait for the peer's next bytes on the socket itself, under TLS if any,
// on a small stack: the host's parked reader waits there. A dialed
// connection reads through gorilla directly, and a read deadline ends it.
//
// Listeners: an http.Server per listener, HTTP/1.1 only (browsers open
// WebSockets over HTTP/1.1 when the server offers no h2). Only the
// configured path (default "/") upgrades; other paths get 404, requests
// that are not upgrades get 426, and neither affects other connections.
// Any Origin is allowed: libp2p pages live anywhere. Timeouts: the
// listener's HandshakeTimeout bounds the TLS handshake, the request
// headers (ReadHeaderTimeout), the whole request and its response, and an
// idle keep-alive connection; after the upgrade the host's own handshake
// deadline starts. Headers are capped at 8 KiB (MaxHeaderBytes) since an
// upgrade request needs a few hundred bytes. Connections not yet upgraded
// count against the listener's MaxHandshakes; more are closed at once.
//
// TLS: Config.TLSConfig is cloned per listener with "http/1.1" put first
// in NextProtos and "h2" dropped; other protocols (acme-tls/1) are kept, and
// GetCertificate is honoured, so certificates can be swapped while running.
// LoadCertificate builds such a config from PEM files.
//
// Addresses: a listener reports /ws or /wss (plus /http-path when the path
// is not "/"); RemoteMultiaddr (identify's observedAddr) has the same form
// as go-libp2p's: /ip4/<ip>/tcp/<port>/ws or .../wss. AnnounceForms adds
// the /tls/sni/<host>/ws form of every DNS /wss announce address and the
// reverse, so both old and new clients find one they can dial.
package ws
