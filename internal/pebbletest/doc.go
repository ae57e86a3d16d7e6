// Package pebbletest runs a real ACME server for tests: pebble and
// pebble-challtestsrv (github.com/letsencrypt/pebble/v2, v2.10.1) on
// loopback ports, with challtestsrv answering every DNS A query with
// 127.0.0.1 (no AAAA) and pebble resolving through it. Pebble validates
// TLS-ALPN-01 on Server.TLSPort and HTTP-01 on Server.HTTPPort of
// 127.0.0.1, so the code under test listens there.
//
// The binaries are looked up in $PEBBLE_BIN, then $PATH, then
// $(go env GOPATH)/bin; .ci/run installs them. Missing binaries skip the
// test, or fail it when CI is set.
//
// Pebble's HTTPS listeners use a certificate from a throwaway CA the
// package makes (Server.CARootFile); the certificates pebble issues chain
// to a root it makes at each start (Server.IssuerRoots).
package pebbletest
