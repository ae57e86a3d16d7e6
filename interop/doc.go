// Package interop judges relayd's wire compatibility with real, unmodified
// go-libp2p clients, and with js-libp2p in Node.js and headless Chromium
// (js_test.go, driving the npm project in js/). It holds only tests and the
// reference relay in cmd/refrelay; see README.md.
//
// Every scenario runs twice, as subtests "relayd" and "reference": against
// the relayd binary built from the parent module, and against refrelay,
// go-libp2p's own circuitv2 relay behind the same flags and log lines. A
// scenario that fails on "reference" is a bug in the harness, not in relayd.
//
// This module is separate so that the main module never depends on
// go-libp2p.
package interop
