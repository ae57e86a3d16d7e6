package probe

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
)

type closeWriter interface {
	io.ReadWriter
	Close() error
}

// echoOver writes size random bytes, half-closes, and reads them back.
func echoOver(s closeWriter, size int) error {
	msg := make([]byte, size)
	rand.Read(msg)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Write(msg)
		errc <- err
	}()
	back := make([]byte, size)
	if _, err := io.ReadFull(s, back); err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(back, msg) {
		return errors.New("echoed bytes differ")
	}
	return nil
}
