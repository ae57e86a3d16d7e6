// Package reservation owns where Circuit Relay v2 reservations are recorded.
//
// A Reservation says which peer holds a slot, which relay node holds the
// peer's connection (so a fleet can route a CONNECT to that node), when it
// expires, and the address the peer reserved from. Store is the directory
// the circuit service writes and reads; Memory is the embedded default for
// a single node. A shared (Redis) store for a fleet implements the same
// interface and runs the same test suite (storetest).
//
// A reservation is valid until Expire and only while its node holds the
// peer's connection: the circuit service deletes it when the peer's last
// connection closes, and expired entries read as absent even before a
// sweep removes them.
package reservation
