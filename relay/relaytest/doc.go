// Package relaytest runs an in-process relay for tests of relayd's
// packages and commands: Start builds one and serves it until the test
// ends, so no test writes its own Serve goroutine and shutdown.
package relaytest
