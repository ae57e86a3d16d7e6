// Package ratelimit owns token buckets: Rate (tokens per second and a
// burst) and KeyedRate, one bucket per key (an IP prefix, a peer) with a
// bounded number of keys, on golang.org/x/time/rate. IPKey and SubnetKey
// say which addresses share a bucket (an IPv4 address or IPv6 /64; an IPv4
// /24 or IPv6 /56).
//
// It knows nothing about relaying, so both the host (connection rates) and
// the limiter (request rates) use it.
package ratelimit
