//go:build !unix

package tcp

import "syscall"

func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }

const reuseAvailable = false
