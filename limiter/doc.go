// Package limiter owns relay policy: how many reservations this node
// holds, how many circuits a peer may have open, and the caps each circuit
// carries.
//
// Defaults (Config): 128 reservations per node, 16 open circuits per peer
// (counted whether the peer is the circuit's source or destination, as
// go-libp2p does), circuits capped at 2 min and 128 KiB in each direction
// (the go-libp2p defaults, so Noise, identify and three rounds of DCUtR fit).
//
// Quotas count *active* reservations, never requests: a refresh or a
// reconnect of a peer that already holds a slot never takes a second one.
// Refusals are sentinel errors; Reason maps each to its metric/log label.
package limiter
