// Package wstest makes throwaway TLS certificates for /wss tests: a
// self-signed certificate for 127.0.0.1, ::1 and localhost, and a client
// config that trusts only it.
package wstest
