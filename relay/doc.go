// Package relay assembles one relay node: the libp2p host with its
// listeners, the circuit service, the reservation store and the limiter,
// wired together with one lifecycle (New binds, Serve runs, Close tears
// down and waits). cmd/relayd maps its flags onto Config; tests build
// in-process relays on 127.0.0.1:0 with it.
package relay
