// Package reservation owns where Circuit Relay v2 reservations are recorded.
//
// A Reservation says which peer holds a slot, which relay node holds the
// peer's connection (so a fleet can route a CONNECT to that node), when it
// expires, and the address the peer reserved from. Store is the directory
// the circuit service writes and reads; Memory is the embedded default for
// a single node. Redis is the store a fleet shares (go-redis
// UniversalClient: single, Sentinel, Cluster): every change is one Lua
// script on keys under one hash tag, every key has a TTL, quotas are
// checked in the same script (Reserve), and a reservation whose node's
// heartbeat lapsed reads as absent; REDIS.md documents keys and scripts.
// Both run the same test suite (storetest), Redis against a real
// redis-server and a real 3-master Redis Cluster.
//
// A reservation is valid until Expire and only while its node holds the
// peer's connection: the circuit service deletes it when the peer's last
// connection closes, and expired entries read as absent even before a
// sweep removes them. Sweep reports expired reservations to the node that
// holds them; a shared store's Sweep covers only its own node's.
package reservation
