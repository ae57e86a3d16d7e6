//go:build !unix || aix

package ws

// peekReadable cannot peek here: it reports the socket readable at once,
// and the caller reads as usual.
func peekReadable(uintptr) bool { return true }
