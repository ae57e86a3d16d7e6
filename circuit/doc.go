// Package circuit owns the Circuit Relay v2 protocols (specs
// relay/circuit-v2.md): the hop handler (RESERVE and CONNECT from clients),
// the stop streams it opens to reserved peers, and the splice that carries a
// circuit's bytes with its duration and data caps.
//
// Flow of a CONNECT from B to A: read one hop message (4 KiB cap, unbuffered
// so no relayed byte is consumed), check B's connection is direct, ask the
// limiter (ACL, then CONNECT rates), look up A's reservation, count the
// circuit against both peers and the node (limiter quotas), open a stop
// stream on A's existing connection (never dialing), exchange StopMessage
// CONNECT/STATUS, answer B with STATUS OK and the Limit of B's class, then
// splice. RESERVE asks the limiter likewise (ACL, rates, then the quotas
// on active slots). Policy lives in package limiter and reaches the
// service through the Quota interface (*limiter.Limiter for one node, a
// fleet-wide quota on Redis for several), so the service knows neither
// Redis nor the fleet; every refusal goes
// through refuse, which writes the spec's status code (status.go's
// table for policy outcomes), logs the reason and the requester's class at
// debug, and counts it.
//
// Caps: the data cap counts relayed payload bytes per direction (spec).
// A direction that reaches it has delivered every counted byte; then the
// destination's write side is half-closed (FIN) and the source's read side
// closed (QUIC STOP_SENDING; on yamux an RST once the source's other
// direction has ended too, see p2p/host), so the sender's further writes
// fail while the other direction carries on, as in go-libp2p's relay. A
// direction that ends with EOF is half-closed the same way. When the
// duration cap passes (the streams' deadline), on an error on either leg,
// at shutdown and at the drain deadline, both streams are reset at once
// (yamux RST / QUIC RESET_STREAM + STOP_SENDING), and relayd's state for
// them is freed at once. A class's rate cap (limiter.Limit.Rate) paces each direction with a
// token bucket (pace.go): the copy loop waits before writing, so the
// sender is slowed by flow control instead of cut. A circuit's two copy
// goroutines belong to the Service and end with the circuit; Close waits
// for them.
//
// Copy buffers (splice.go): each direction takes a pooled 16 KiB buffer,
// which is what a quiet circuit holds. A direction whose read fills it is
// carrying bulk data and switches to 65507 bytes, one yamux data frame
// that fills one Noise frame, so a relayed MiB costs 16 writes (frames,
// seals, syscalls) instead of 64. Paced directions keep 16 KiB (they read
// at most a burst at a time), and so do directions with less than 1 MiB
// of their data cap left: yamux keeps a session's largest write buffered
// for the session's life, so a 64 KiB write would stay with both legs'
// connections (and their reservations) after the circuit. An unpaced
// direction takes no pacer at all.
//
// Fleets (MESH.md): when the reservation names another node and
// Config.Forwarder is set, CONNECT forwards the circuit there (after the
// same checks and quotas) instead of refusing it ("other_node"); the
// holding node serves it with HandleForwarded, which opens the stop
// stream and splices without limits. The entry node enforces the Limit and
// counts the circuit; the holding node counts it only in its mesh metrics.
// splice joins any two Streams (host streams, mesh streams); Forwarder is
// the only thing circuit knows of the mesh.
//
// Timeouts (Config): 1 min to read a hop request and write the reply, 30 s
// to open the stop stream, 1 min for the stop exchange (go-libp2p's values).
//
// The client side (Reserve, Connect, ServeStop) is what `relayd probe` and
// the tests use; it speaks the same wire and shares its codecs.
package circuit
