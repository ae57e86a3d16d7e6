// Package leakcheck fails a test whose goroutines outlive it.
//
// It is our own small take on the ResourceCheck idea: record the goroutines
// that exist when a test starts, and at cleanup wait (bounded) until every
// goroutine started since has exited, otherwise fail with their stacks. It
// compares goroutine IDs, never stack text, so it cannot go quiet after a
// rename.
package leakcheck
