// Package frame is the codec of the fleet mesh (circuit/MESH.md): the
// Hello carried in the Noise handshake, the Connect and Status frames that
// open a forwarded circuit, and the record header that carries its bytes.
//
// Every decoder is a pure function over bytes, Parse*(b) (X, n, error),
// with size caps checked before anything is allocated; every message has
// Append(b) []byte. A truncated message is io.ErrUnexpectedEOF (io.EOF
// when b is empty); anything else that does not parse wraps ErrMalformed.
package frame
